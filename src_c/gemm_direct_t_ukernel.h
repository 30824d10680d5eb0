/* gemm_direct_t_ukernel.h -- the micro-kernel of the direct GEMM's transposed product
 * (the weight gradient), written once as a template. gemm_direct.h includes it once per
 * instruction set after defining `real` and
 *   DT_NAME    function name        DT_MR      taps per tile (rows)
 *   DT_VEC     aligned vector type  DT_TARGET  function attribute of the instruction set
 *   DT_SW      the distance between neighbouring positions in the image (the stride)
 * A tile is DT_MR taps x 2 vectors of output channels, summed over every position:
 *     tile[i][j] = sum_{y < h, x < w} a[y * a_row + x * DT_SW + koff[i]] * b[y * w + x][j]
 * Each tap's values at consecutive positions are consecutive in the image, so the
 * tile's DT_MR rows are DT_MR pointers walking along the image rows: no unfolding. */
#define DT_VL ((int)(sizeof(DT_VEC) / sizeof(real)))

DT_TARGET static void DT_NAME(ptrdiff_t h, ptrdiff_t w, const real *restrict a, ptrdiff_t a_row,
                              const ptrdiff_t *restrict koff, const real *restrict b,
                              real *restrict tile)
{
    DT_VEC acc[DT_MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < DT_MR; i++) acc[i][0] = acc[i][1] = (DT_VEC){0};
    for (ptrdiff_t y = 0; y < h; y++) {
        const real *restrict row[DT_MR];
#pragma GCC unroll 16
        for (int i = 0; i < DT_MR; i++) row[i] = a + y * a_row + koff[i];
        for (ptrdiff_t x = 0; x < w; x++) {
            const DT_VEC b0 = *(const DT_VEC *)b;
            const DT_VEC b1 = *(const DT_VEC *)(b + DT_VL);
            b += 2 * DT_VL;
#pragma GCC unroll 16
            for (int i = 0; i < DT_MR; i++) {
                const real ai = row[i][x * DT_SW];
                acc[i][0] += ai * b0;
                acc[i][1] += ai * b1;
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < DT_MR; i++) {
        *(DT_VEC *)(tile + i * 2 * DT_VL) = acc[i][0];
        *(DT_VEC *)(tile + i * 2 * DT_VL + DT_VL) = acc[i][1];
    }
}

#undef DT_NAME
#undef DT_VEC
#undef DT_VL
#undef DT_MR
#undef DT_TARGET
#undef DT_SW
