/* local_template.h -- the locally connected / tiled kernels for one element type.
 * local_f32.c and local_f64.c define `real` (float / double) and `lane_int` (the signed
 * integer of real's width, for shuffle masks), include this file, and spell out the
 * exported functions of local_kernels.h over its static ones.
 *
 * The loops of local_kernels_impl.h are compiled for three instruction sets (AVX-512,
 * AVX2+FMA, portable C) and mg_cpu_isa() picks one at every call, so the extension is
 * built without -march=native and still uses the machine's widest vectors. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "mg_cpu.h"
#include "local_kernels.h"

#if !defined(__GNUC__) && !defined(__clang__) /* clang-cl defines only __clang__ */
#error "the local kernels use GCC/Clang vector extensions; build with gcc, clang or clang-cl"
#endif

/* The vector helpers are always inlined, so the ABI of passing wide vectors between
 * functions of different targets never arises; silence gcc's note. */
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define MG_INLINE inline __attribute__((always_inline))
/* The three copies of a loop are told apart by a suffix: forward_avx2, ... */
#define MG_LOCAL_ISA_NAME_(name, isa) name##_##isa
#define MG_LOCAL_ISA_NAME(name, isa) MG_LOCAL_ISA_NAME_(name, isa)
#define FN(name) MG_LOCAL_ISA_NAME(name, SFX)

/* Vectors of batch lanes, one register wide on each target: 64 bytes for AVX-512, 32
 * for AVX2, 16 for the portable build (SSE2, NEON). The packed batch is padded to 64
 * bytes, a multiple of all three. The integer vectors are __builtin_shuffle's masks. */
typedef real vreal16 __attribute__((vector_size(16)));
typedef real vreal32 __attribute__((vector_size(32)));
typedef real vreal64 __attribute__((vector_size(64)));
typedef lane_int vint16 __attribute__((vector_size(16)));
typedef lane_int vint32 __attribute__((vector_size(32)));
typedef lane_int vint64 __attribute__((vector_size(64)));

/* Register tiles: accumulators + operands must fit the register file with room to
 * spare, else the compiler spills them inside the hot loops. 16 registers (SSE2, AVX2,
 * and the portable build's NEON use): */
#define FWD_R 2
#define GI_R 2
#define GW_R 4
#define GW_Q 2
#define GWS_R 4
#define GWS_Q 2

#define TARGET
#define VEC vreal16
#define IVEC vint16
#define SFX generic
#include "local_kernels_impl.h"
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET

#if MG_X86
#define TARGET MG_TARGET_AVX2
#define VEC vreal32
#define IVEC vint32
#define SFX avx2
#include "local_kernels_impl.h"
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET

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
#define TARGET MG_TARGET_AVX512
#define VEC vreal64
#define IVEC vint64
#define SFX avx512
#include "local_kernels_impl.h"
#undef VEC
#undef IVEC
#undef SFX
#undef TARGET
#endif

/* One instruction set's loops, as a table entry (indexed by mg_isa). */
typedef struct {
    void (*pack_input)(const real *, real *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                       ptrdiff_t, ptrdiff_t, ptrdiff_t, int);
    void (*unpack_input)(const real *, real *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                         ptrdiff_t, ptrdiff_t, ptrdiff_t, int);
    void (*pack_output)(const real *, real *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, int);
    void (*unpack_output)(const real *, real *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                          int);
    void (*forward)(const real *, const real *, const real *, real *, const mg_local_shape *,
                    const ptrdiff_t *, int);
    void (*grad_input)(const real *, const real *, real *, const mg_local_shape *,
                       const ptrdiff_t *, int);
    void (*grad_weight)(const real *, const real *, real *, real *, const mg_local_shape *,
                        const ptrdiff_t *, int);
} localops;

#define LOCALOPS_OF(isa)                                                                   \
    {MG_LOCAL_ISA_NAME(pack_input, isa),  MG_LOCAL_ISA_NAME(unpack_input, isa),            \
     MG_LOCAL_ISA_NAME(pack_output, isa), MG_LOCAL_ISA_NAME(unpack_output, isa),           \
     MG_LOCAL_ISA_NAME(forward, isa),     MG_LOCAL_ISA_NAME(grad_input, isa),              \
     MG_LOCAL_ISA_NAME(grad_weight, isa)}

static const localops LOCALOPS[] = {
    LOCALOPS_OF(generic),
#if MG_X86
    LOCALOPS_OF(avx2),
    LOCALOPS_OF(avx512),
#endif
};

static const localops *ops(void) { return &LOCALOPS[mg_cpu_isa()]; }

/* koff[k] for every tap k = (c, i, j): the offset of its input row from loc(p) (see
 * local_kernels_impl.h), tabulated once per call; NULL when out of memory. */
static ptrdiff_t *tap_offsets(const mg_local_shape *s)
{
    ptrdiff_t *koff = malloc(sizeof(ptrdiff_t) * (size_t)(s->c_in * s->kh * s->kw));
    if (!koff) return NULL;
    ptrdiff_t k = 0;
    for (ptrdiff_t c = 0; c < s->c_in; c++)
        for (ptrdiff_t i = 0; i < s->kh; i++)
            for (ptrdiff_t j = 0; j < s->kw; j++)
                koff[k++] = ((c * s->hp + i) * s->wp + j) * s->n_pad;
    return koff;
}

static int local_forward(const real *xp, const real *w, const real *b, real *yp,
                         const mg_local_shape *s, int nt)
{
    ptrdiff_t *koff = tap_offsets(s);
    if (!koff) return MG_ENOMEM;
    ops()->forward(xp, w, b, yp, s, koff, nt);
    free(koff);
    return MG_OK;
}

static int local_grad_input(const real *gyp, const real *w, real *gxp, const mg_local_shape *s,
                            int nt)
{
    ptrdiff_t *koff = tap_offsets(s);
    if (!koff) return MG_ENOMEM;
    ops()->grad_input(gyp, w, gxp, s, koff, nt);
    free(koff);
    return MG_OK;
}

static int local_grad_weight(const real *gyp, const real *xp, real *gw, real *gb,
                             const mg_local_shape *s, int nt)
{
    ptrdiff_t *koff = tap_offsets(s);
    if (!koff) return MG_ENOMEM;
    ops()->grad_weight(gyp, xp, gw, gb, s, koff, nt);
    free(koff);
    return MG_OK;
}
