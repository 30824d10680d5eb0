/* gemm_ukernel.h -- the register-blocked GEMM micro-kernel, written once as a template.
 *
 * gemm_template.h includes this file once per instruction set (and half width) after
 * defining `real` (the element type) and
 *   UK_NAME    function name            UK_MR, UK_NV  tile: UK_MR rows x UK_NV vectors
 *   UK_VEC     aligned vector type      UK_VEC_U  unaligned (may_alias) vector type
 *   UK_TARGET  function attribute selecting the instruction set (may be empty)
 *   UK_BSTRIDE (optional) elements per step of the packed B sliver; defaults to the tile
 *              width. A "half" kernel reads only the first UK_NV vectors of a wider
 *              sliver, so a narrow last column panel does not pay for a full-width tile.
 *
 * The kernel computes one UK_MR x (UK_NV * UK_VL) tile of C from packed slivers:
 *     a: kc steps of UK_MR values (a column of op(A), alpha already folded in)
 *     b: kc steps of UK_NV*UK_VL values (a row of op(B)), 64-byte aligned
 *     tile = sum_p a[p] (outer product) b[p]
 * and stores it into C (accumulate == 0) or adds it (accumulate != 0).
 * The tile lives in registers for the whole k loop: UK_MR * UK_NV accumulators, each
 * step does UK_NV vector loads, UK_MR broadcasts and UK_MR * UK_NV fused multiply-adds
 * (GCC's default -ffp-contract=fast in GNU C turns `acc += a * b` into FMA).
 */

#define UK_VL ((int)(sizeof(UK_VEC) / sizeof(real)))
#ifndef UK_BSTRIDE
#define UK_BSTRIDE (UK_NV * UK_VL)
#endif

UK_TARGET static void UK_NAME(ptrdiff_t kc, const real *restrict a, const real *restrict b,
                              real *restrict c, ptrdiff_t ldc, int accumulate)
{
    UK_VEC acc[UK_MR][UK_NV];
#pragma GCC unroll 16
    for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < UK_NV; v++) acc[i][v] = (UK_VEC){0};

    for (ptrdiff_t p = 0; p < kc; p++) {
        UK_VEC bv[UK_NV];
#pragma GCC unroll 4
        for (int v = 0; v < UK_NV; v++) bv[v] = *(const UK_VEC *)(b + v * UK_VL);
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++) {
            real ai = a[i];
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) acc[i][v] += ai * bv[v];
        }
        a += UK_MR;
        b += UK_BSTRIDE;
    }

    if (accumulate) {
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) *(UK_VEC_U *)(c + i * ldc + v * UK_VL) += acc[i][v];
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < UK_NV; v++) *(UK_VEC_U *)(c + i * ldc + v * UK_VL) = acc[i][v];
    }
}

#undef UK_NAME
#undef UK_VEC
#undef UK_VEC_U
#undef UK_VL
#undef UK_MR
#undef UK_NV
#undef UK_TARGET
#undef UK_BSTRIDE
