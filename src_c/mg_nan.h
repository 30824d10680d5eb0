/* mg_nan.h -- the NaN scan behind the kernels' input checks: memory-speed, parallel.
 * The loop (mg_nan_scan.h) is compiled for each instruction set (mg_cpu.h) like the
 * kernels, so a scan compares 64 bytes at a time where AVX-512 is there rather than
 * SSE2's 16 (64 x 16 x 14 x 14 floats, 1 thread: 150 -> 31 us). The caller passes an array
 * aligned to its element size (checks.prepared). */
#ifndef MG_NAN_H
#define MG_NAN_H

#include <stddef.h>

#include "mg_common.h"
#include "mg_cpu.h"

/* one chunk of the scan, per element type and instruction set */
#define NS_NAME nan_f32_generic
#define NS_T float
#define NS_TARGET
#include "mg_nan_scan.h"
#define NS_NAME nan_f64_generic
#define NS_T double
#define NS_TARGET
#include "mg_nan_scan.h"
#if MG_X86
#define NS_NAME nan_f32_avx2
#define NS_T float
#define NS_TARGET MG_TARGET_AVX2
#include "mg_nan_scan.h"
#define NS_NAME nan_f64_avx2
#define NS_T double
#define NS_TARGET MG_TARGET_AVX2
#include "mg_nan_scan.h"
#endif
#if MG_X86
#define NS_NAME nan_f32_avx512
#define NS_T float
#define NS_TARGET MG_TARGET_AVX512
#include "mg_nan_scan.h"
#define NS_NAME nan_f64_avx512
#define NS_T double
#define NS_TARGET MG_TARGET_AVX512
#include "mg_nan_scan.h"
#endif

/* indexed by mg_isa */
static int (*const NAN_F32[])(const float *, ptrdiff_t) = {
    nan_f32_generic,
#if MG_X86
    nan_f32_avx2, nan_f32_avx512,
#endif
};
static int (*const NAN_F64[])(const double *, ptrdiff_t) = {
    nan_f64_generic,
#if MG_X86
    nan_f64_avx2, nan_f64_avx512,
#endif
};

/* Threads take contiguous chunks; their findings are OR-ed. */
static int mg_has_nan_f32(const float *a, ptrdiff_t n, int nt)
{
    int (*scan)(const float *, ptrdiff_t) = NAN_F32[mg_cpu_isa()];
    int found = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : found)
    for (int t = 0; t < nt; t++) found |= scan(a + n * t / nt, n * (t + 1) / nt - n * t / nt);
    return found;
}

static int mg_has_nan_f64(const double *a, ptrdiff_t n, int nt)
{
    int (*scan)(const double *, ptrdiff_t) = NAN_F64[mg_cpu_isa()];
    int found = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : found)
    for (int t = 0; t < nt; t++) found |= scan(a + n * t / nt, n * (t + 1) / nt - n * t / nt);
    return found;
}

#endif /* MG_NAN_H */
