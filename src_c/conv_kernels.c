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
#include "conv_template.h"

#define CT_T double
#define CT(name) name##_f64
#define CT_GEMM mg_dgemm
#include "conv_template.h"
