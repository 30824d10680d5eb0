/* gemm_direct_ukernel.h -- the direct GEMM's micro-kernel, written once as a template.
 * gemm_direct.h includes it once per instruction set after defining `real` and
 *   DK_NAME    function name        DK_MR      positions per tile (rows)
 *   DK_VEC     aligned vector type  DK_TARGET  function attribute of the instruction set
 *   DK_SW      the distance between neighbouring positions in the image (the stride)
 * A tile is DK_MR positions x 2 vectors of output channels:
 *     tile[i][j] = sum_{r < kc} a[koff[r] + i * DK_SW] * b[r][j]
 * a: the tile's first position in the image (positions DK_SW apart), koff: each
 * tap's offset, b: packed weights (kc steps of 2 vectors), 64-byte aligned. */
#define DK_VL ((int)(sizeof(DK_VEC) / sizeof(real)))

DK_TARGET static void DK_NAME(ptrdiff_t kc, const real *restrict a,
                              const ptrdiff_t *restrict koff, const real *restrict b,
                              real *restrict tile)
{
    DK_VEC acc[DK_MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < DK_MR; i++) acc[i][0] = acc[i][1] = (DK_VEC){0};
    for (ptrdiff_t r = 0; r < kc; r++) {
        const real *restrict ar = a + koff[r];
        const DK_VEC b0 = *(const DK_VEC *)(b + r * 2 * DK_VL);
        const DK_VEC b1 = *(const DK_VEC *)(b + r * 2 * DK_VL + DK_VL);
#pragma GCC unroll 16
        for (int i = 0; i < DK_MR; i++) {
            const real ai = ar[i * DK_SW];
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < DK_MR; i++) {
        *(DK_VEC *)(tile + i * 2 * DK_VL) = acc[i][0];
        *(DK_VEC *)(tile + i * 2 * DK_VL + DK_VL) = acc[i][1];
    }
}

#undef DK_NAME
#undef DK_VEC
#undef DK_VL
#undef DK_MR
#undef DK_TARGET
#undef DK_SW
