/* conv_kernels.c -- c, g and h (conv_kernels.h) for float and double.
 * The algorithm is written once in conv_template.h; the GEMM is gemm.h's. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "gemm.h"
#include "conv_kernels.h"

#define CT_T float
#define CT(name) name##_f32
#define CT_GEMM mg_sgemm
#define CT_GEMM_PACKED mg_sgemm_packed
#define CT_PACK_A mg_sgemm_pack_a
#define CT_PACKED_A_SIZE mg_sgemm_packed_a_size
#include "conv_template.h"

#define CT_T double
#define CT(name) name##_f64
#define CT_GEMM mg_dgemm
#define CT_GEMM_PACKED mg_dgemm_packed
#define CT_PACK_A mg_dgemm_pack_a
#define CT_PACKED_A_SIZE mg_dgemm_packed_a_size
#include "conv_template.h"
