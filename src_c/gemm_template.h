/* gemm_template.h -- the whole GEMM for one element type. gemm_f32.c and gemm_f64.c
 * define `real` (float / double) and the cache blocking GEMM_KC, GEMM_NC, include this
 * file, and spell out the exported functions of gemm.h over its static ones.
 *
 * Micro-kernels: one register-blocked template (gemm_ukernel.h) compiled for three
 * instruction sets; mg_cpu_isa() (mg_cpu.h) picks one at every call. Tiles, in vectors
 * of the instruction set's width (16, 32 or 64 bytes):
 *   generic  4 rows x 2 vectors   (16-byte vectors: SSE2, NEON via GCC vector extensions)
 *   avx2     6 rows x 2 vectors   (12 accumulators of the 16 registers)
 *   avx512   8 rows x 2 vectors   (16 of the 32 registers: enough independent FMA
 *                                  chains to hide the latency at two FMAs per cycle)
 * Each has a half-width twin for a narrow last column panel. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "mg_cpu.h"

#define LANES(bytes) ((int)((bytes) / sizeof(real)))

/* aligned vector types for the packed operands, unaligned + may_alias ones for C */
typedef real vec16 __attribute__((vector_size(16)));
typedef real vec16u __attribute__((vector_size(16), aligned(sizeof(real)), may_alias));
#if MG_X86
typedef real vec32 __attribute__((vector_size(32)));
typedef real vec32u __attribute__((vector_size(32), aligned(sizeof(real)), may_alias));
typedef real vec64 __attribute__((vector_size(64)));
typedef real vec64u __attribute__((vector_size(64), aligned(sizeof(real)), may_alias));
#endif

#define UK_NAME ukr_generic
#define UK_VEC vec16
#define UK_VEC_U vec16u
#define UK_MR 4
#define UK_NV 2
#define UK_TARGET
#include "gemm_ukernel.h"

#define UK_NAME ukr_generic_half
#define UK_VEC vec16
#define UK_VEC_U vec16u
#define UK_MR 4
#define UK_NV 1
#define UK_BSTRIDE (2 * LANES(16))
#define UK_TARGET
#include "gemm_ukernel.h"

#if MG_X86
#define UK_NAME ukr_avx2
#define UK_VEC vec32
#define UK_VEC_U vec32u
#define UK_MR 6
#define UK_NV 2
#define UK_TARGET MG_TARGET_AVX2
#include "gemm_ukernel.h"

#define UK_NAME ukr_avx2_half
#define UK_VEC vec32
#define UK_VEC_U vec32u
#define UK_MR 6
#define UK_NV 1
#define UK_BSTRIDE (2 * LANES(32))
#define UK_TARGET MG_TARGET_AVX2
#include "gemm_ukernel.h"

#define UK_NAME ukr_avx512
#define UK_VEC vec64
#define UK_VEC_U vec64u
#define UK_MR 8
#define UK_NV 2
#define UK_TARGET MG_TARGET_AVX512
#include "gemm_ukernel.h"

#define UK_NAME ukr_avx512_half
#define UK_VEC vec64
#define UK_VEC_U vec64u
#define UK_MR 8
#define UK_NV 1
#define UK_BSTRIDE (2 * LANES(64))
#define UK_TARGET MG_TARGET_AVX512
#include "gemm_ukernel.h"
#endif

/* Largest micro-tile of any kernel (elements), for the edge-tile buffer. */
#define GEMM_MAX_TILE (8 * 2 * LANES(64))

typedef void (*ukernel_fn)(ptrdiff_t, const real *, const real *, real *, ptrdiff_t, int);

/* A micro-kernel and its half-width twin (same packed B layout, nr/2 columns). */
typedef struct {
    int mr, nr;
    ukernel_fn run, half;
} ukernel;

/* indexed by mg_isa */
static const ukernel UKERNELS[] = {
    {4, 2 * LANES(16), ukr_generic, ukr_generic_half},
#if MG_X86
    {6, 2 * LANES(32), ukr_avx2, ukr_avx2_half},
    {8, 2 * LANES(64), ukr_avx512, ukr_avx512_half},
#endif
};

static const ukernel *active_kernel(void) { return &UKERNELS[mg_cpu_isa()]; }

/* Per-thread packing buffers (slot 0: A, slot 1: B), grown on demand and kept for the
 * thread's lifetime, so a convolution calling GEMM once per image does not allocate (or
 * first-touch fresh pages) per image. OpenMP's pool threads persist, so this is a
 * handful of buffers. NULL when out of memory. */
static _Thread_local void *tl_buf[2] = {NULL, NULL};
static _Thread_local size_t tl_cap[2] = {0, 0};

static void *gemm_thread_buffer(int slot, size_t bytes)
{
    if (bytes > tl_cap[slot]) {
        mg_aligned_free(tl_buf[slot]);
        const size_t cap = (bytes + 4095) & ~(size_t)4095;
        tl_buf[slot] = mg_aligned_alloc(64, cap);
        tl_cap[slot] = tl_buf[slot] ? cap : 0;
    }
    return tl_buf[slot];
}

#include "gemm_driver.h"
#include "gemm_direct.h"
