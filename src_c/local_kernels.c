/* Locally connected and tiled convolution kernels (see local_kernels.h for the
 * equations and the data layout, local_kernels_impl.h for the loops).
 *
 * This file instantiates the loops of local_kernels_impl.h for float and
 * double on three instruction sets (AVX-512, AVX2+FMA, portable C) and picks
 * one at run time with __builtin_cpu_supports, so the extension is built
 * without -march=native and still uses the machine's widest vectors.
 */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "local_kernels.h"

#if !defined(__GNUC__)
#error "local_kernels.c uses GCC/Clang vector extensions; build with gcc or clang"
#endif

/* The vector helpers are always inlined, so the ABI of passing wide vectors
 * between functions of different targets never arises; silence gcc's note. */
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define MG_INLINE inline __attribute__((always_inline))
#define MG_CAT_(a, b) a##_##b
#define MG_CAT(a, b) MG_CAT_(a, b)
#define FN(name) MG_CAT(name, SFX)

/* Vectors of batch lanes, one register wide on each target: 64 bytes for
 * AVX-512, 32 for AVX2, 16 for the portable build (SSE2, NEON).  The packed
 * batch is padded to 64 bytes, a multiple of all three.  The integer vectors
 * are __builtin_shuffle's lane masks. */
#define MG_VECTOR_TYPES(BYTES)                                                           \
    typedef float vf32_##BYTES __attribute__((vector_size(BYTES)));                      \
    typedef double vf64_##BYTES __attribute__((vector_size(BYTES)));                     \
    typedef int32_t vi32_##BYTES __attribute__((vector_size(BYTES)));                    \
    typedef int64_t vi64_##BYTES __attribute__((vector_size(BYTES)));
MG_VECTOR_TYPES(16)
MG_VECTOR_TYPES(32)
MG_VECTOR_TYPES(64)

#if (defined(__x86_64__) || defined(__i386__))
#define MG_X86 1
#endif

/* Register tiles: accumulators + operands must fit the register file with
 * room to spare, else the compiler spills them inside the hot loops.
 * 16 registers (SSE2, AVX2, and the portable build's NEON use): */
#define FWD_R 2
#define GI_R 2
#define GW_R 4
#define GW_Q 2
#define GWS_R 4
#define GWS_Q 2

/* ---------------------------------------------------------- portable C */
#define TARGET
#define REAL float
#define VEC vf32_16
#define IVEC vi32_16
#define SFX f32_c
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#define REAL double
#define VEC vf64_16
#define IVEC vi64_16
#define SFX f64_c
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET

#ifdef MG_X86
/* ---------------------------------------------------------- AVX2 + FMA */
#define TARGET __attribute__((target("avx2,fma")))
#define REAL float
#define VEC vf32_32
#define IVEC vi32_32
#define SFX f32_avx2
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#define REAL double
#define VEC vf64_32
#define IVEC vi64_32
#define SFX f64_avx2
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET

/* ---------------------------------------------------------- AVX-512 */
/* 32 registers: bigger tiles, fewer loads per multiply-add. */
#undef FWD_R
#undef GI_R
#undef GW_Q
#undef GWS_R
#undef GWS_Q
#define FWD_R 4
#define GI_R 5
#define GW_Q 4
#define GWS_R 8
#define GWS_Q 3
#define TARGET __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#define REAL float
#define VEC vf32_64
#define IVEC vi32_64
#define SFX f32_avx512
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#define REAL double
#define VEC vf64_64
#define IVEC vi64_64
#define SFX f64_avx512
#include "local_kernels_impl.h"
#undef REAL
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET
#endif

/* ---------------------------------------------------------- dispatch */

static int isa_forced = -1;

static int isa_supported(void)
{
#ifdef MG_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int mg_local_isa(void)
{
    const int best = isa_supported();
    return (isa_forced >= 0 && isa_forced < best) ? isa_forced : best;
}

int mg_local_set_isa(int level)
{
    isa_forced = level;
    return mg_local_isa();
}

/* Each entry point tabulates the tap offsets, then runs the variant for the CPU. */
#ifdef MG_X86
#define MG_DISPATCH(name, T, ...)                                                        \
    do {                                                                                 \
        switch (mg_local_isa()) {                                                        \
        case 2: name##_##T##_avx512(__VA_ARGS__); break;                                 \
        case 1: name##_##T##_avx2(__VA_ARGS__); break;                                   \
        default: name##_##T##_c(__VA_ARGS__); break;                                     \
        }                                                                                \
    } while (0)
#else
#define MG_DISPATCH(name, T, ...) name##_##T##_c(__VA_ARGS__)
#endif

#define MG_ENTRY_POINTS(T, REAL_T)                                                       \
    void mg_local_pack_input_##T(const REAL_T *x, REAL_T *xp, ptrdiff_t n, ptrdiff_t np,  \
                                 ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,      \
                                 ptrdiff_t pw, int nt)                                     \
    {                                                                                    \
        MG_DISPATCH(pack_input, T, x, xp, n, np, c, h, w, ph, pw, nt);                   \
    }                                                                                    \
    void mg_local_unpack_input_##T(const REAL_T *xp, REAL_T *x, ptrdiff_t n, ptrdiff_t np,\
                                   ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,    \
                                   ptrdiff_t pw, int nt)                                   \
    {                                                                                    \
        MG_DISPATCH(unpack_input, T, xp, x, n, np, c, h, w, ph, pw, nt);                 \
    }                                                                                    \
    void mg_local_pack_output_##T(const REAL_T *y, REAL_T *yp, ptrdiff_t n, ptrdiff_t np, \
                                  ptrdiff_t c, ptrdiff_t P, int nt)                        \
    {                                                                                    \
        MG_DISPATCH(pack_output, T, y, yp, n, np, c, P, nt);                             \
    }                                                                                    \
    void mg_local_unpack_output_##T(const REAL_T *yp, REAL_T *y, ptrdiff_t n,             \
                                    ptrdiff_t np, ptrdiff_t c, ptrdiff_t P, int nt)        \
    {                                                                                    \
        MG_DISPATCH(unpack_output, T, yp, y, n, np, c, P, nt);                           \
    }                                                                                    \
    int mg_local_forward_##T(const REAL_T *xp, const REAL_T *w, const REAL_T *b,         \
                             REAL_T *yp, const mg_local_shape *s, int nt)                \
    {                                                                                    \
        ptrdiff_t *koff = malloc(sizeof(ptrdiff_t) * (size_t)(s->c_in * s->kh * s->kw)); \
        if (!koff) return -1;                                                            \
        tap_offsets_##T##_c(koff, s);                                                    \
        MG_DISPATCH(forward, T, xp, w, b, yp, s, koff, nt);                              \
        free(koff);                                                                      \
        return 0;                                                                        \
    }                                                                                    \
    int mg_local_grad_input_##T(const REAL_T *gyp, const REAL_T *w, REAL_T *gxp,         \
                                const mg_local_shape *s, int nt)                         \
    {                                                                                    \
        ptrdiff_t *koff = malloc(sizeof(ptrdiff_t) * (size_t)(s->c_in * s->kh * s->kw)); \
        if (!koff) return -1;                                                            \
        tap_offsets_##T##_c(koff, s);                                                    \
        MG_DISPATCH(grad_input, T, gyp, w, gxp, s, koff, nt);                            \
        free(koff);                                                                      \
        return 0;                                                                        \
    }                                                                                    \
    int mg_local_grad_weight_##T(const REAL_T *gyp, const REAL_T *xp, REAL_T *gw,        \
                                 REAL_T *gb, const mg_local_shape *s, int nt)            \
    {                                                                                    \
        ptrdiff_t *koff = malloc(sizeof(ptrdiff_t) * (size_t)(s->c_in * s->kh * s->kw)); \
        if (!koff) return -1;                                                            \
        tap_offsets_##T##_c(koff, s);                                                    \
        MG_DISPATCH(grad_weight, T, gyp, xp, gw, gb, s, koff, nt);                       \
        free(koff);                                                                      \
        return 0;                                                                        \
    }

MG_ENTRY_POINTS(f32, float)
MG_ENTRY_POINTS(f64, double)
