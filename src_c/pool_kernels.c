/* Pooling kernels: see pool_kernels.h for the contract.
 *
 * The row kernels (pool_kernels_rows.h) are compiled three times per element
 * type -- AVX-512, AVX2+FMA and baseline -- through the `target` attribute, and
 * one set is picked once at run time with __builtin_cpu_supports, so the build
 * never needs -march=native.  The OpenMP drivers (pool_kernels_drivers.h) are
 * compiled once per element type. */
/* Two code-generation switches for this file only:
 * - no-wrapv: Python's build flags (sysconfig CFLAGS) add -fwrapv, which makes
 *   signed overflow defined, so GCC can no longer prove that index arithmetic
 *   like o * s + t * d does not wrap and gives up vectorizing those loops
 *   (measured 2.5x slower).  No index here can overflow: the wrapper checks
 *   that a plane has fewer than 2^31 elements.
 * - no-trapping-math: floating-point exceptions are never inspected here, so
 *   GCC may assume comparisons do not trap; it then if-converts (and
 *   vectorizes) the max loops that pick a value and its index with two
 *   conditions in a row. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-wrapv")
#endif

#include "pool_kernels.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"

#define MG_CAT2_(a, b) a##_##b
#define MG_CAT2(a, b) MG_CAT2_(a, b)
#define MG_CAT3_(a, b, c) a##_##b##_##c
#define MG_CAT3(a, b, c) MG_CAT3_(a, b, c)

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define MG_POOL_X86 1
#else
#define MG_POOL_X86 0
#endif

/* 0 generic, 1 AVX2, 2 AVX-512 (index into the per-type tables). */
static int mg_pool_isa_level(void)
{
    static int level = -1;
    if (level < 0) {
        int l = 0;
#if MG_POOL_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) l = 1;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq"))
            l = 2;
#endif
        /* MINIGRAD_POOL_ISA=generic|avx2 caps the choice: for testing the
         * fallback paths on a machine that has more. */
        const char *cap = getenv("MINIGRAD_POOL_ISA");
        if (cap && strcmp(cap, "generic") == 0) l = 0;
        if (cap && strcmp(cap, "avx2") == 0 && l > 1) l = 1;
        level = l; /* benign race: every thread computes the same value */
    }
    return level;
}

const char *mg_pool_isa(void)
{
    static const char *names[3] = {"generic", "avx2", "avx512"};
    return names[mg_pool_isa_level()];
}

/* Row lengths are rounded up to a multiple of this many elements (one
 * AVX-512 float vector) so that the vectorized loops run without remainder. */
#define MG_POOL_VEC 16
#define MG_POOL_ROUND(n) (((n) + MG_POOL_VEC - 1) / MG_POOL_VEC * MG_POOL_VEC)

/* ---- row kernels: 2 types x 3 instruction sets ---- */
#define ATTR
#define ISA generic
#define T float
#define SFX f32
#define POW powf
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#define T double
#define SFX f64
#define POW pow
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#undef ISA
#undef ATTR

#if MG_POOL_X86
#define ATTR __attribute__((target("avx2,fma")))
#define ISA avx2
#define T float
#define SFX f32
#define POW powf
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#define T double
#define SFX f64
#define POW pow
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#undef ISA
#undef ATTR

#define ATTR __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#define ISA avx512
#define T float
#define SFX f32
#define POW powf
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#define T double
#define SFX f64
#define POW pow
#include "pool_kernels_rows.h"
#undef T
#undef SFX
#undef POW
#undef ISA
#undef ATTR
#endif

/* ---- drivers: one per type ---- */
#define T float
#define SFX f32
#define POW powf
#define SQRT sqrtf
#include "pool_kernels_drivers.h"
#undef T
#undef SFX
#undef POW
#undef SQRT
#define T double
#define SFX f64
#define POW pow
#define SQRT sqrt
#include "pool_kernels_drivers.h"
#undef T
#undef SFX
#undef POW
#undef SQRT
