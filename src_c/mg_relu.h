/* mg_relu.h -- the rectifier of ops/activation.py (ReLU) in C: one pass over memory,
 * split over threads, at the vector width mg_cpu_isa() picks. NumPy needs two passes
 * and a bool temporary for each direction (np.maximum with its NaN handling: 69 us for
 * 64 x 16 x 14 x 14 floats on one thread; g * (out > 0): 49 us). The caller passes
 * contiguous arrays aligned to their element size (core.relu_forward checks). */
#ifndef MG_RELU_H
#define MG_RELU_H

#include <stddef.h>

#include "mg_common.h"
#include "mg_cpu.h"

#define RC_T float
#define RC_SUFFIX f32_generic
#define RC_TARGET
#include "mg_relu_chunk.h"
#define RC_T double
#define RC_SUFFIX f64_generic
#define RC_TARGET
#include "mg_relu_chunk.h"
#if MG_X86
#define RC_T float
#define RC_SUFFIX f32_avx2
#define RC_TARGET MG_TARGET_AVX2
#include "mg_relu_chunk.h"
#define RC_T double
#define RC_SUFFIX f64_avx2
#define RC_TARGET MG_TARGET_AVX2
#include "mg_relu_chunk.h"
#define RC_T float
#define RC_SUFFIX f32_avx512
#define RC_TARGET MG_TARGET_AVX512
#include "mg_relu_chunk.h"
#define RC_T double
#define RC_SUFFIX f64_avx512
#define RC_TARGET MG_TARGET_AVX512
#include "mg_relu_chunk.h"
#endif

/* indexed by mg_isa */
static void (*const RELU_FWD_F32[])(const float *, float *, ptrdiff_t) = {
    relu_fwd_f32_generic,
#if MG_X86
    relu_fwd_f32_avx2, relu_fwd_f32_avx512,
#endif
};
static void (*const RELU_FWD_F64[])(const double *, double *, ptrdiff_t) = {
    relu_fwd_f64_generic,
#if MG_X86
    relu_fwd_f64_avx2, relu_fwd_f64_avx512,
#endif
};
static void (*const RELU_BWD_F32[])(const float *, const float *, float *, ptrdiff_t) = {
    relu_bwd_f32_generic,
#if MG_X86
    relu_bwd_f32_avx2, relu_bwd_f32_avx512,
#endif
};
static void (*const RELU_BWD_F64[])(const double *, const double *, double *, ptrdiff_t) = {
    relu_bwd_f64_generic,
#if MG_X86
    relu_bwd_f64_avx2, relu_bwd_f64_avx512,
#endif
};

/* Thread t takes elements [n t / nt, n (t + 1) / nt): contiguous chunks, as the NaN scan. */
static inline ptrdiff_t chunk_start(ptrdiff_t n, int t, int nt) { return n * t / nt; }

static void mg_relu_forward_f32(const float *a, float *out, ptrdiff_t n, int nt)
{
    void (*fwd)(const float *, float *, ptrdiff_t) = RELU_FWD_F32[mg_cpu_isa()];
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
        fwd(a + lo, out + lo, hi - lo);
    }
}

static void mg_relu_forward_f64(const double *a, double *out, ptrdiff_t n, int nt)
{
    void (*fwd)(const double *, double *, ptrdiff_t) = RELU_FWD_F64[mg_cpu_isa()];
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
        fwd(a + lo, out + lo, hi - lo);
    }
}

static void mg_relu_backward_f32(const float *out, const float *g, float *ga, ptrdiff_t n,
                                 int nt)
{
    void (*bwd)(const float *, const float *, float *, ptrdiff_t) = RELU_BWD_F32[mg_cpu_isa()];
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
        bwd(out + lo, g + lo, ga + lo, hi - lo);
    }
}

static void mg_relu_backward_f64(const double *out, const double *g, double *ga, ptrdiff_t n,
                                 int nt)
{
    void (*bwd)(const double *, const double *, double *, ptrdiff_t) =
        RELU_BWD_F64[mg_cpu_isa()];
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
        bwd(out + lo, g + lo, ga + lo, hi - lo);
    }
}

#endif /* MG_RELU_H */
