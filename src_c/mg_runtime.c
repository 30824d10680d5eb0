/* mg_runtime.c -- the core extension's table of shared entry points (mg_runtime.h). */
#include "mg_runtime.h"

const mg_runtime MG_RUNTIME = {
    MG_RUNTIME_ABI,
    mg_cpu_isa,
    mg_sgemm,
    mg_dgemm,
    mg_sgemm_packed_a_size,
    mg_dgemm_packed_a_size,
    mg_sgemm_pack_a,
    mg_dgemm_pack_a,
    mg_sgemm_packed,
    mg_dgemm_packed,
    mg_gemm_direct_tile,
    mg_sgemm_direct_packed_b_size,
    mg_dgemm_direct_packed_b_size,
    mg_sgemm_direct_pack_b,
    mg_dgemm_direct_pack_b,
    mg_sgemm_direct,
    mg_dgemm_direct,
    mg_sgemm_direct_t,
    mg_dgemm_direct_t,
};
