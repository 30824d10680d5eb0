/* gemm.c -- minigrad's matrix multiply: see gemm.h for the contract.
 *
 * One cache-blocked driver (gemm_driver.h) and one register-blocked micro-kernel
 * (gemm_ukernel.h), both written once and instantiated here for float and double and
 * for three instruction sets. The instruction set is picked once at run time with
 * __builtin_cpu_supports, so the library is built for baseline x86-64 (no -march) and
 * still uses AVX-512 where the CPU has it. Elsewhere (non-x86) only the portable
 * kernel exists; it uses GCC/clang vector extensions that map to whatever SIMD the
 * target has.
 */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_X86 1
#define TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define GEMM_X86 0
#endif

/* Largest micro-tile of any kernel below (elements), for the edge-tile buffer. */
#define GEMM_MAX_TILE (8 * 32)

/* ---- vector types: aligned for packed data, unaligned + may_alias for C ---- */
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x4u __attribute__((vector_size(16), aligned(4), may_alias));
typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x2u __attribute__((vector_size(16), aligned(8), may_alias));
#if GEMM_X86
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x4u __attribute__((vector_size(32), aligned(8), may_alias));
typedef float f32x16 __attribute__((vector_size(64)));
typedef float f32x16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef double f64x8 __attribute__((vector_size(64)));
typedef double f64x8u __attribute__((vector_size(64), aligned(8), may_alias));
#endif

/* ---- micro-kernels: tile = MR rows x (NV vectors) ---- */
/* portable: 4 x 8 floats, 4 x 4 doubles in 128-bit vectors */
#define UK_NAME ukr_s_generic
#define UK_T float
#define UK_VEC f32x4
#define UK_VEC_U f32x4u
#define UK_VL 4
#define UK_MR 4
#define UK_NV 2
#define UK_TARGET
#include "gemm_ukernel.h"

#define UK_NAME ukr_s_generic_half
#define UK_T float
#define UK_VEC f32x4
#define UK_VEC_U f32x4u
#define UK_VL 4
#define UK_MR 4
#define UK_NV 1
#define UK_BSTRIDE 8
#define UK_TARGET 
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_generic
#define UK_T double
#define UK_VEC f64x2
#define UK_VEC_U f64x2u
#define UK_VL 2
#define UK_MR 4
#define UK_NV 2
#define UK_TARGET
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_generic_half
#define UK_T double
#define UK_VEC f64x2
#define UK_VEC_U f64x2u
#define UK_VL 2
#define UK_MR 4
#define UK_NV 1
#define UK_BSTRIDE 4
#define UK_TARGET 
#include "gemm_ukernel.h"

#if GEMM_X86
/* AVX2: 6 rows x 2 ymm = 12 accumulators of the 16 registers */
#define UK_NAME ukr_s_avx2
#define UK_T float
#define UK_VEC f32x8
#define UK_VEC_U f32x8u
#define UK_VL 8
#define UK_MR 6
#define UK_NV 2
#define UK_TARGET TARGET_AVX2
#include "gemm_ukernel.h"

#define UK_NAME ukr_s_avx2_half
#define UK_T float
#define UK_VEC f32x8
#define UK_VEC_U f32x8u
#define UK_VL 8
#define UK_MR 6
#define UK_NV 1
#define UK_BSTRIDE 16
#define UK_TARGET TARGET_AVX2
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_avx2
#define UK_T double
#define UK_VEC f64x4
#define UK_VEC_U f64x4u
#define UK_VL 4
#define UK_MR 6
#define UK_NV 2
#define UK_TARGET TARGET_AVX2
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_avx2_half
#define UK_T double
#define UK_VEC f64x4
#define UK_VEC_U f64x4u
#define UK_VL 4
#define UK_MR 6
#define UK_NV 1
#define UK_BSTRIDE 8
#define UK_TARGET TARGET_AVX2
#include "gemm_ukernel.h"

/* AVX-512: 8 rows x 2 zmm = 16 accumulators of the 32 registers; enough independent
 * FMA chains to hide the FMA latency at two FMAs per cycle */
#define UK_NAME ukr_s_avx512
#define UK_T float
#define UK_VEC f32x16
#define UK_VEC_U f32x16u
#define UK_VL 16
#define UK_MR 8
#define UK_NV 2
#define UK_TARGET TARGET_AVX512
#include "gemm_ukernel.h"

#define UK_NAME ukr_s_avx512_half
#define UK_T float
#define UK_VEC f32x16
#define UK_VEC_U f32x16u
#define UK_VL 16
#define UK_MR 8
#define UK_NV 1
#define UK_BSTRIDE 32
#define UK_TARGET TARGET_AVX512
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_avx512
#define UK_T double
#define UK_VEC f64x8
#define UK_VEC_U f64x8u
#define UK_VL 8
#define UK_MR 8
#define UK_NV 2
#define UK_TARGET TARGET_AVX512
#include "gemm_ukernel.h"

#define UK_NAME ukr_d_avx512_half
#define UK_T double
#define UK_VEC f64x8
#define UK_VEC_U f64x8u
#define UK_VL 8
#define UK_MR 8
#define UK_NV 1
#define UK_BSTRIDE 16
#define UK_TARGET TARGET_AVX512
#include "gemm_ukernel.h"
#endif

/* A micro-kernel and its half-width twin (same packed B layout, nr/2 columns). */
typedef struct {
    int mr, nr;
    void (*run)(ptrdiff_t, const float *, const float *, float *, ptrdiff_t, int);
    void (*half)(ptrdiff_t, const float *, const float *, float *, ptrdiff_t, int);
} kernel_s;
typedef struct {
    int mr, nr;
    void (*run)(ptrdiff_t, const double *, const double *, double *, ptrdiff_t, int);
    void (*half)(ptrdiff_t, const double *, const double *, double *, ptrdiff_t, int);
} kernel_d;

typedef struct {
    const char *name;
    kernel_s s;
    kernel_d d;
} isa_kernels;

static const isa_kernels ISA_GENERIC = {
    "generic", {4, 8, ukr_s_generic, ukr_s_generic_half}, {4, 4, ukr_d_generic, ukr_d_generic_half}};
#if GEMM_X86
static const isa_kernels ISA_AVX2 = {
    "avx2", {6, 16, ukr_s_avx2, ukr_s_avx2_half}, {6, 8, ukr_d_avx2, ukr_d_avx2_half}};
static const isa_kernels ISA_AVX512 = {
    "avx512", {8, 32, ukr_s_avx512, ukr_s_avx512_half}, {8, 16, ukr_d_avx512, ukr_d_avx512_half}};
#endif

/* Chosen once; a benign race (every thread would store the same pointer). */
static const isa_kernels *active_isa = NULL;

static const isa_kernels *pick_isa(void)
{
#if GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        return &ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &ISA_AVX2;
#endif
    return &ISA_GENERIC;
}

static const isa_kernels *isa(void)
{
    if (!active_isa) active_isa = pick_isa();
    return active_isa;
}

const char *mg_gemm_isa(void) { return isa()->name; }

int mg_gemm_force_isa(const char *name)
{
    if (strcmp(name, "generic") == 0) {
        active_isa = &ISA_GENERIC;
        return 0;
    }
#if GEMM_X86
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        active_isa = &ISA_AVX2;
        return 0;
    }
    if (strcmp(name, "avx512") == 0 && pick_isa() == &ISA_AVX512) {
        active_isa = &ISA_AVX512;
        return 0;
    }
#endif
    return -1;
}

static const kernel_s *active_kernel_s(void) { return &isa()->s; }
static const kernel_d *active_kernel_d(void) { return &isa()->d; }

/* Per-thread packing buffers (slot 0: A, slot 1: B), grown on demand and kept for the
 * thread's lifetime, so a convolution calling GEMM once per image does not allocate (or
 * first-touch fresh pages) per image. OpenMP's pool threads persist, so this is a
 * handful of buffers. */
static _Thread_local void *tl_buf[2] = {NULL, NULL};
static _Thread_local size_t tl_cap[2] = {0, 0};

static void *gemm_thread_buffer(int slot, size_t bytes)
{
    if (bytes > tl_cap[slot]) {
        free(tl_buf[slot]);
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        tl_buf[slot] = aligned_alloc(64, cap);
        if (!tl_buf[slot]) abort(); /* out of memory inside a nogil kernel: nothing to raise */
        tl_cap[slot] = cap;
    }
    return tl_buf[slot];
}

/* Cache blocking: a KC x NC panel of B in L2 (256 x 512 floats = 512 KiB), one mr x KC
 * sliver of A in L1 (8 x 256 floats = 8 KiB) while it sweeps the panel. A is packed whole
 * once per call (no MC blocking): each sliver is reused across a full panel anyway. */
#ifndef KC_s
#define KC_s 256
#endif
#ifndef NC_s
#define NC_s 512
#endif
#define KC_d 128
#define NC_d 512

#define GD_T float
#define GD(name) name##_s
#define GD_KERNEL kernel_s
#include "gemm_driver.h"

#define GD_T double
#define GD(name) name##_d
#define GD_KERNEL kernel_d
#include "gemm_driver.h"

void mg_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
              const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
              float *c, ptrdiff_t ldc, int num_threads)
{
    gemm_s(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, num_threads);
}

void mg_dgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, double alpha,
              const double *a, ptrdiff_t lda, const double *b, ptrdiff_t ldb, double beta,
              double *c, ptrdiff_t ldc, int num_threads)
{
    gemm_d(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, num_threads);
}

size_t mg_sgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k)
{
    return packed_a_size_s(active_kernel_s(), m, k);
}

size_t mg_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k)
{
    return packed_a_size_d(active_kernel_d(), m, k);
}

void mg_sgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, float alpha, const float *a,
                     ptrdiff_t lda, float *a_packed)
{
    pack_a_s(trans_a, a, lda, 0, 0, m, k, alpha, active_kernel_s()->mr, a_packed);
}

void mg_dgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, double alpha, const double *a,
                     ptrdiff_t lda, double *a_packed)
{
    pack_a_d(trans_a, a, lda, 0, 0, m, k, alpha, active_kernel_d()->mr, a_packed);
}

void mg_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a_packed,
                     mg_spack_b_fn pack_b, const void *b_ctx, float beta, float *c,
                     ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return;
    gemm_packed_s(active_kernel_s(), m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc,
                  num_threads);
}

void mg_dgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *a_packed,
                     mg_dpack_b_fn pack_b, const void *b_ctx, double beta, double *c,
                     ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return;
    gemm_packed_d(active_kernel_d(), m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc,
                  num_threads);
}
