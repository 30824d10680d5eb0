/* mg_runtime.h -- how the kernel families share one CPU dispatch and one GEMM.
 *
 * The core extension (minigrad._C.core) compiles mg_cpu.c and the GEMM (gemm_f32.c,
 * gemm_f64.c), and publishes their entry points as one table, MG_RUNTIME, in a Python
 * capsule (minigrad._C.core._C_API). Every other extension compiles mg_runtime_client.c
 * instead: functions of the same names (mg_cpu_isa, mg_sgemm, ...) that forward through
 * the table, which the extension's wrapper binds when it is imported (mg_runtime.pxd).
 * So a family's C code calls mg_sgemm_packed(...) or mg_cpu_isa() as if they were its
 * own, while the state behind them (the ISA choice and cap, the GEMM's buffers) exists
 * once per process.
 *
 * Why a capsule: it is how NumPy and SciPy share C functions between extension
 * modules, and it needs nothing from the platform's dynamic linker -- no shared library
 * to ship and find at run time (rpath on Linux, @loader_path on macOS, the DLL search
 * path on Windows), so every wheel is a plain set of self-contained extensions. */
#ifndef MG_RUNTIME_H
#define MG_RUNTIME_H

#include <stddef.h>

#include "gemm.h"
#include "mg_cpu.h"

/* Bumped whenever the table changes: an extension built against another layout
 * refuses to bind instead of calling through the wrong slots. */
#define MG_RUNTIME_ABI 5

typedef struct {
    int abi;
    mg_isa (*cpu_isa)(void);
    int (*sgemm)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t,
                 const float *, ptrdiff_t, float, float *, ptrdiff_t, int);
    int (*dgemm)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, double, const double *, ptrdiff_t,
                 const double *, ptrdiff_t, double, double *, ptrdiff_t, int);
    size_t (*sgemm_packed_a_size)(ptrdiff_t, ptrdiff_t);
    size_t (*dgemm_packed_a_size)(ptrdiff_t, ptrdiff_t);
    void (*sgemm_pack_a)(int, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, float *);
    void (*dgemm_pack_a)(int, ptrdiff_t, ptrdiff_t, double, const double *, ptrdiff_t,
                         double *);
    int (*sgemm_packed)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, mg_spack_b_fn,
                        const void *, float, float *, ptrdiff_t, int);
    int (*dgemm_packed)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, mg_dpack_b_fn,
                        const void *, double, double *, ptrdiff_t, int);
    void (*gemm_direct_tile)(ptrdiff_t, int *, int *, int *);
    size_t (*sgemm_direct_packed_b_size)(ptrdiff_t, ptrdiff_t);
    size_t (*dgemm_direct_packed_b_size)(ptrdiff_t, ptrdiff_t);
    void (*sgemm_direct_pack_b)(ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t, ptrdiff_t,
                                float *);
    void (*dgemm_direct_pack_b)(ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t, ptrdiff_t,
                                double *);
    int (*sgemm_direct)(ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                        ptrdiff_t, const ptrdiff_t *, const float *, const float *, float *, ptrdiff_t,
                        int);
    int (*dgemm_direct)(ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *, ptrdiff_t,
                        ptrdiff_t, const ptrdiff_t *, const double *, const double *, double *, ptrdiff_t,
                        int);
    int (*sgemm_direct_t)(ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                          ptrdiff_t, const ptrdiff_t *, const float *, int, float *, ptrdiff_t, int);
    int (*dgemm_direct_t)(ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *,
                          ptrdiff_t, ptrdiff_t, const ptrdiff_t *, const double *, int, double *,
                          ptrdiff_t, int);
} mg_runtime;

/* In the core extension: the table of the real functions. */
extern const mg_runtime MG_RUNTIME;

/* In every other extension: bind the forwarders to the core's table (called once, at
 * import, with the capsule's pointer). Returns 0, or -1 for a table of another ABI. */
int mg_runtime_bind(const void *table);

#endif /* MG_RUNTIME_H */
