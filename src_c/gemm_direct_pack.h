/* gemm_direct_pack.h -- direct_pack_b's transposing case, written once as a template.
 * gemm_direct.h includes it once per instruction set after defining `real`, `lane_int`
 * (the signed integer of real's width) and
 *   DP_NAME    function name        DP_VEC     aligned vector type (DP_VL lanes)
 *   DP_STEP    name of its transpose step
 *   DP_IVEC    integer vector with DP_VEC's lanes (the shuffle masks)
 *   DP_TARGET  function attribute of the instruction set
 * It packs B[r][j] = b[r + j * ldb_j], where every column j is a contiguous run along r
 * (a weight gradient's B is the output gradient transposed: one channel plane per
 * column; the forward's is the weights, one row of taps per column), into blocks of
 * nr = 2 vectors of columns: dst[(jb * k + r) * nr + jj]. A column-at-a-time copy moves
 * one element per load and store; here a tile of DP_VL columns x DP_VL steps r is loaded
 * as DP_VL vectors (one per column), transposed in registers and stored as DP_VL rows of
 * dst. Columns past n are packed as zeros. Needs k >= DP_VL: a last partial tile is
 * shifted back to overlap the one before (it writes the same values twice). */
#define DP_VL ((int)(sizeof(DP_VEC) / sizeof(real)))

/* One step of the in-register transpose of DP_VL rows: step d swaps bit d of the row
 * index with bit d of the column index (the off-diagonal d x d blocks of every 2d x 2d
 * block trade places); after the steps for all bits, element (q, i) sits at (i, q). */
static inline DP_TARGET void DP_STEP(DP_VEC t[], const int d)
{
#if defined(__clang__) /* no __builtin_shuffle: plain element moves */
    for (int q = 0; q < DP_VL; q++) {
        if (q & d) continue;
        for (int i = 0; i < DP_VL; i++) {
            if (!(i & d)) continue;
            const real v = t[q][i];
            t[q][i] = t[q + d][i - d];
            t[q + d][i - d] = v;
        }
    }
#else
    DP_IVEC lo, hi; /* row q keeps its own half and takes row q+d's */
    for (int i = 0; i < DP_VL; i++) {
        lo[i] = (i & d) ? DP_VL + i - d : i;
        hi[i] = (i & d) ? DP_VL + i : i + d;
    }
    for (int q = 0; q < DP_VL; q++) {
        if (q & d) continue;
        const DP_VEC a = t[q], c = t[q + d];
        t[q] = __builtin_shuffle(a, c, lo);
        t[q + d] = __builtin_shuffle(a, c, hi);
    }
#endif
}

DP_TARGET static void DP_NAME(ptrdiff_t k, ptrdiff_t n, const real *b, ptrdiff_t ldb_j,
                              real *restrict dst)
{
    const int nr = 2 * DP_VL;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += nr, dst += k * nr)
        for (int half = 0; half < nr; half += DP_VL) { /* the block's two vectors */
            const ptrdiff_t jh = j0 + half, valid = n - jh < DP_VL ? n - jh : DP_VL;
            for (ptrdiff_t r0 = 0; r0 < k; r0 += DP_VL) {
                const ptrdiff_t r = r0 + DP_VL > k ? k - DP_VL : r0;
                DP_VEC t[DP_VL]; /* t[q][i] = B[r + i][jh + q] */
                for (int q = 0; q < DP_VL; q++) {
                    t[q] = (DP_VEC){0};
                    if (q < valid) memcpy(&t[q], b + (jh + q) * ldb_j + r, sizeof(DP_VEC));
                }
                if (DP_VL > 8) DP_STEP(t, 8);
                if (DP_VL > 4) DP_STEP(t, 4);
                if (DP_VL > 2) DP_STEP(t, 2);
                DP_STEP(t, 1);
                for (int i = 0; i < DP_VL; i++)
                    memcpy(dst + (r + i) * nr + half, &t[i], sizeof(DP_VEC));
            }
        }
}

#undef DP_NAME
#undef DP_STEP
#undef DP_VEC
#undef DP_IVEC
#undef DP_VL
#undef DP_TARGET
