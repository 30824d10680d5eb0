/* NaN scan for the kernels' input checks: memory-speed, vectorizable, parallel. */
#ifndef MG_NAN_H
#define MG_NAN_H

#include <stddef.h>

/* x != x is true only for NaN; OR-reducing it lets the compiler vectorize the
   loop (no early exit), and a clean array is the common case anyway. */
#define MG_DEFINE_HAS_NAN(NAME, T)                                              \
    static int NAME(const T *a, ptrdiff_t n, int nt)                            \
    {                                                                           \
        int found = 0;                                                          \
        _Pragma("omp parallel for num_threads(nt) schedule(static) reduction(|:found)") \
        for (ptrdiff_t i = 0; i < n; i++)                                       \
            found |= (a[i] != a[i]);                                            \
        return found;                                                           \
    }

MG_DEFINE_HAS_NAN(mg_has_nan_f32, float)
MG_DEFINE_HAS_NAN(mg_has_nan_f64, double)

#endif /* MG_NAN_H */
