/* pool_template.h -- the pooling family for one element type. pool_f32.c and
 * pool_f64.c define `real` (float / double), POW and SQRT for it, include this file,
 * and spell out the exported functions of pool_kernels.h over its static ones.
 *
 * The row kernels (pool_kernels_rows.h) are compiled three times -- AVX-512, AVX2+FMA
 * and baseline -- through the `target` attribute, and mg_cpu_isa() picks one set at
 * every call, so the build never needs -march=native. The OpenMP drivers
 * (pool_kernels_drivers.h) are compiled once. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "mg_cpu.h"
#include "pool_kernels.h"

/* The three copies of a row kernel are told apart by a suffix: max_vblock_avx2, ... */
#define MG_POOL_ISA_NAME_(name, isa) name##_##isa
#define MG_POOL_ISA_NAME(name, isa) MG_POOL_ISA_NAME_(name, isa)

/* Row lengths are rounded up to a multiple of this many elements (one AVX-512 float
 * vector) so that the vectorized loops run without remainder. */
#define MG_POOL_VEC 16
#define MG_POOL_ROUND(n) (((n) + MG_POOL_VEC - 1) / MG_POOL_VEC * MG_POOL_VEC)

#define ATTR
#define ISA generic
#include "pool_kernels_rows.h"
#undef ISA
#undef ATTR

#if MG_X86
#define ATTR MG_TARGET_AVX2
#define ISA avx2
#include "pool_kernels_rows.h"
#undef ISA
#undef ATTR

#define ATTR MG_TARGET_AVX512
#define ISA avx512
#include "pool_kernels_rows.h"
#undef ISA
#undef ATTR
#endif

/* One instruction set's row kernels, as a table entry. */
#define ROWOPS_OF(isa)                                                                     \
    {MG_POOL_ISA_NAME(max_vblock_idx, isa), MG_POOL_ISA_NAME(max_vblock, isa),             \
     MG_POOL_ISA_NAME(sum_vblock, isa),     MG_POOL_ISA_NAME(max_hblock_idx, isa),         \
     MG_POOL_ISA_NAME(max_hblock, isa),     MG_POOL_ISA_NAME(sum_hblock, isa),             \
     MG_POOL_ISA_NAME(emit_idx, isa),       MG_POOL_ISA_NAME(emit, isa),                   \
     MG_POOL_ISA_NAME(hscatter, isa),       MG_POOL_ISA_NAME(add_row, isa)}

#include "pool_kernels_drivers.h"
