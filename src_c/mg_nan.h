/* mg_nan.h -- the NaN scan behind the kernels' input checks: memory-speed, parallel.
 * x != x is true only for NaN; OR-reducing it (no early exit) lets the compiler
 * vectorize the loop, and a clean array is the common case anyway. The caller passes
 * an array aligned to its element size (checks.prepared). */
#ifndef MG_NAN_H
#define MG_NAN_H

#include <stddef.h>

static int mg_has_nan_f32(const float *a, ptrdiff_t n, int nt)
{
    int found = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : found)
    for (ptrdiff_t i = 0; i < n; i++) found |= (a[i] != a[i]);
    return found;
}

static int mg_has_nan_f64(const double *a, ptrdiff_t n, int nt)
{
    int found = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : found)
    for (ptrdiff_t i = 0; i < n; i++) found |= (a[i] != a[i]);
    return found;
}

#endif /* MG_NAN_H */
