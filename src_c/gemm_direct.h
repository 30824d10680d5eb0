/* gemm_direct.h -- the direct ("indirect") GEMM for one element type: the A operand is
 * read straight from an image through a table of tap offsets, so a convolution of
 * stride 1 or 2 runs without any im2col or packing of the image (gemm.h,
 * mg_?gemm_direct), and so does its weight gradient (mg_?gemm_direct_t).
 *
 * Micro-kernel: an MR x NR tile of output positions x output channels lives in registers
 * for the whole depth k (every tap of every input channel): per tap, NV vector loads of
 * packed B (the weights of NR channels), MR broadcasts from the image (the tap's value
 * at MR neighbouring positions: addresses 1 or 2 apart) and MR * NV fused multiply-adds.
 * Tiles (rows x vectors): avx512 14 x 2 (28 of the 32 registers), avx2 6 x 2, generic
 * 6 x 2. The tile is written out once, transposed into C's channel-major layout. */

#define DK_MAX_TILE (14 * 2 * LANES(64))

/* Every micro-kernel exists for positions 1 (stride 1) and 2 apart (stride 2), with the
 * stride a constant: the broadcasts' addresses are then immediate offsets. The
 * transposed product's tiles are taps x 2 vectors (avx512 8, 9 or 13 x 2 -- the height
 * that wastes the fewest rows, see direct_t_height --, avx2 6 x 2, generic 4 x 2), one
 * pointer per tap row. */
#define DK_NAME direct_generic_s1
#define DK_VEC vec16
#define DK_MR 6
#define DK_SW 1
#define DK_TARGET 
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_generic_s1
#define DT_VEC vec16
#define DT_MR 4
#define DT_SW 1
#define DT_TARGET 
#include "gemm_direct_t_ukernel.h"
#define DK_NAME direct_generic_s2
#define DK_VEC vec16
#define DK_MR 6
#define DK_SW 2
#define DK_TARGET 
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_generic_s2
#define DT_VEC vec16
#define DT_MR 4
#define DT_SW 2
#define DT_TARGET 
#include "gemm_direct_t_ukernel.h"
#if MG_X86
#define DK_NAME direct_avx2_s1
#define DK_VEC vec32
#define DK_MR 6
#define DK_SW 1
#define DK_TARGET MG_TARGET_AVX2
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_avx2_s1
#define DT_VEC vec32
#define DT_MR 6
#define DT_SW 1
#define DT_TARGET MG_TARGET_AVX2
#include "gemm_direct_t_ukernel.h"
#define DK_NAME direct_avx2_s2
#define DK_VEC vec32
#define DK_MR 6
#define DK_SW 2
#define DK_TARGET MG_TARGET_AVX2
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_avx2_s2
#define DT_VEC vec32
#define DT_MR 6
#define DT_SW 2
#define DT_TARGET MG_TARGET_AVX2
#include "gemm_direct_t_ukernel.h"
#endif
#if MG_X86
#define DK_NAME direct_avx512_7_s1
#define DK_VEC vec64
#define DK_MR 7
#define DK_SW 1
#define DK_TARGET MG_TARGET_AVX512
#include "gemm_direct_ukernel.h"
#define DK_NAME direct_avx512_7_s2
#define DK_VEC vec64
#define DK_MR 7
#define DK_SW 2
#define DK_TARGET MG_TARGET_AVX512
#include "gemm_direct_ukernel.h"
#define DK_NAME direct_avx512_s1
#define DK_VEC vec64
#define DK_MR 14
#define DK_SW 1
#define DK_TARGET MG_TARGET_AVX512
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_avx512_s1
#define DT_VEC vec64
#define DT_MR 8
#define DT_SW 1
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#define DT_NAME direct_t_avx512_9_s1
#define DT_VEC vec64
#define DT_MR 9
#define DT_SW 1
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#define DT_NAME direct_t_avx512_13_s1
#define DT_VEC vec64
#define DT_MR 13
#define DT_SW 1
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#define DK_NAME direct_avx512_s2
#define DK_VEC vec64
#define DK_MR 14
#define DK_SW 2
#define DK_TARGET MG_TARGET_AVX512
#include "gemm_direct_ukernel.h"
#define DT_NAME direct_t_avx512_s2
#define DT_VEC vec64
#define DT_MR 8
#define DT_SW 2
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#define DT_NAME direct_t_avx512_9_s2
#define DT_VEC vec64
#define DT_MR 9
#define DT_SW 2
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#define DT_NAME direct_t_avx512_13_s2
#define DT_VEC vec64
#define DT_MR 13
#define DT_SW 2
#define DT_TARGET MG_TARGET_AVX512
#include "gemm_direct_t_ukernel.h"
#endif

/* direct_pack_b's transposing case (columns contiguous along k) */
typedef lane_int ivec16 __attribute__((vector_size(16)));
#define DP_NAME direct_pack_t_generic
#define DP_STEP transpose_step_generic
#define DP_VEC vec16
#define DP_IVEC ivec16
#define DP_TARGET
#include "gemm_direct_pack.h"
#if MG_X86
typedef lane_int ivec32 __attribute__((vector_size(32)));
typedef lane_int ivec64 __attribute__((vector_size(64)));
#define DP_NAME direct_pack_t_avx2
#define DP_STEP transpose_step_avx2
#define DP_VEC vec32
#define DP_IVEC ivec32
#define DP_TARGET MG_TARGET_AVX2
#include "gemm_direct_pack.h"
#define DP_NAME direct_pack_t_avx512
#define DP_STEP transpose_step_avx512
#define DP_VEC vec64
#define DP_IVEC ivec64
#define DP_TARGET MG_TARGET_AVX512
#include "gemm_direct_pack.h"
#endif

typedef void (*direct_pack_t_fn)(ptrdiff_t, ptrdiff_t, const real *, ptrdiff_t, real *);

typedef void (*direct_fn)(ptrdiff_t, const real *, const ptrdiff_t *, const real *, real *);
typedef void (*direct_t_fn)(ptrdiff_t, ptrdiff_t, const real *, ptrdiff_t, const ptrdiff_t *,
                            const real *, real *);

typedef struct {
    int mr, nr;
    direct_fn run[2]; /* by stride: 1, 2 */
    int mr_t[3]; /* the transposed product's tile heights (taps; 0: none) */
    direct_t_fn run_t[3][2];
    int mr_half; /* a half-height tile, for rows of 7 on AVX-512 (0: none) */
    direct_fn run_half[2];
    direct_pack_t_fn pack_t; /* direct_pack_b with ldb_r == 1 and k >= nr / 2 */
} direct_kernel;

/* indexed by mg_isa; nr = 2 vectors */
static const direct_kernel DIRECT_KERNELS[] = {
    {6, 2 * LANES(16), {direct_generic_s1, direct_generic_s2}, {4},
     {{direct_t_generic_s1, direct_t_generic_s2}}, 0, {NULL, NULL}, direct_pack_t_generic},
#if MG_X86
    {6, 2 * LANES(32), {direct_avx2_s1, direct_avx2_s2}, {6}, {{direct_t_avx2_s1, direct_t_avx2_s2}},
     0, {NULL, NULL}, direct_pack_t_avx2},
    {14, 2 * LANES(64), {direct_avx512_s1, direct_avx512_s2}, {8, 9, 13},
     {{direct_t_avx512_s1, direct_t_avx512_s2}, {direct_t_avx512_9_s1, direct_t_avx512_9_s2},
      {direct_t_avx512_13_s1, direct_t_avx512_13_s2}}, 7, {direct_avx512_7_s1, direct_avx512_7_s2},
     direct_pack_t_avx512},
#endif
};

static const direct_kernel *active_direct(void) { return &DIRECT_KERNELS[mg_cpu_isa()]; }

/* The tile height for rows of w positions: the full one, or the half one where that
 * computes fewer wasted positions. */
static int direct_rows(const direct_kernel *kr, ptrdiff_t w)
{
    const ptrdiff_t full = (w + kr->mr - 1) / kr->mr * kr->mr;
    const ptrdiff_t half = kr->mr_half ? (w + kr->mr_half - 1) / kr->mr_half * kr->mr_half : full;
    return half < full ? kr->mr_half : kr->mr;
}

/* The transposed product's tile height for k taps: the one that computes the fewest
 * rows (k rounded up to whole tiles), the taller on a tie (fewer passes over B). A
 * 3x3 kernel on one channel (9 taps) takes one tile of 9 instead of two of 8. */
static int direct_t_height(const direct_kernel *kr, ptrdiff_t k)
{
    int best = 0;
    for (int v = 1; v < 3 && kr->mr_t[v]; v++) {
        const ptrdiff_t rows = (k + kr->mr_t[v] - 1) / kr->mr_t[v] * kr->mr_t[v];
        const ptrdiff_t best_rows = (k + kr->mr_t[best] - 1) / kr->mr_t[best] * kr->mr_t[best];
        if (rows < best_rows || (rows == best_rows && kr->mr_t[v] > kr->mr_t[best])) best = v;
    }
    return best;
}

static size_t direct_packed_b_size(ptrdiff_t k, ptrdiff_t n)
{
    const int nr = active_direct()->nr;
    return (size_t)((n + nr - 1) / nr * nr) * (size_t)(k > 0 ? k : 0);
}

/* B[r][j] = b[r * ldb_r + j * ldb_j] into blocks of nr columns: dst[(jb*k + r)*nr + jj].
 * Four columns at a time, walking down k: four reads from four columns, and the four
 * values stored side by side (one vector store), whichever of ldb_r and ldb_j is 1 --
 * for a weight gradient B is the output gradient transposed, a plane per column. */
static void direct_pack_b(ptrdiff_t k, ptrdiff_t n, const real *b, ptrdiff_t ldb_r,
                          ptrdiff_t ldb_j, real *restrict dst)
{
    const direct_kernel *kr = active_direct();
    const int nr = kr->nr;
    if (ldb_r == 1 && k >= nr / 2) {
        kr->pack_t(k, n, b, ldb_j, dst);
        return;
    }
    static const real zero = 0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += nr, dst += k * nr)
        for (int jj = 0; jj < nr; jj += 4) {
            const real *src[4];
            ptrdiff_t step[4];
            for (int q = 0; q < 4; q++) {
                const int valid = j0 + jj + q < n;
                src[q] = valid ? b + (j0 + jj + q) * ldb_j : &zero; /* columns past n: 0 */
                step[q] = valid ? ldb_r : 0;
            }
            for (ptrdiff_t r = 0; r < k; r++) {
                real *restrict d = dst + r * nr + jj;
                d[0] = src[0][r * step[0]];
                d[1] = src[1][r * step[1]];
                d[2] = src[2][r * step[2]];
                d[3] = src[3][r * step[3]];
            }
        }
}

static int gemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const real *a,
                       ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                       const real *bpk, const real *bias, real *c, ptrdiff_t ldc,
                       int num_threads)
{
    if (h <= 0 || w <= 0 || n <= 0) return MG_OK;
    const direct_kernel *kr = active_direct();
    const int mr = direct_rows(kr, w), nr = kr->nr;
    const direct_fn run = mr == kr->mr ? kr->run[a_col - 1] : kr->run_half[a_col - 1];
    const ptrdiff_t tiles_x = (w + mr - 1) / mr, blocks = (n + nr - 1) / nr;
    /* channel blocks outermost: one block's packed weights stay in L2 across the image */
    const ptrdiff_t units = blocks * h * tiles_x;
    int nt = num_threads < 1 ? 1 : num_threads;
    if (units < 2 * nt || (double)h * w * n * k < 64.0 * 64 * 64) nt = 1;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (ptrdiff_t u = 0; u < units; u++) {
        const ptrdiff_t jb = u / (h * tiles_x), y = u % (h * tiles_x) / tiles_x;
        const ptrdiff_t x0 = u % tiles_x * mr;
        real tile[DK_MAX_TILE] __attribute__((aligned(64)));
        const ptrdiff_t rows = w - x0 < mr ? w - x0 : mr;
        const ptrdiff_t cols = n - jb * nr < nr ? n - jb * nr : nr;
        /* the tile's stretch of each output channel row is written only after the whole
         * depth k: ask for those lines now, so their fetch overlaps the kernel */
        for (ptrdiff_t jj = 0; jj < cols; jj++) {
            real *cj = c + (jb * nr + jj) * ldc + y * w + x0;
            __builtin_prefetch(cj, 1);
            __builtin_prefetch(cj + rows - 1, 1);
        }
        run(k, a + y * a_row + x0 * a_col, koff, bpk + jb * k * nr, tile);
        for (ptrdiff_t jj = 0; jj < cols; jj++) {
            real *cj = c + (jb * nr + jj) * ldc + y * w + x0;
            const real bj = bias ? bias[jb * nr + jj] : (real)0;
            for (ptrdiff_t i = 0; i < rows; i++) cj[i] = tile[i * nr + jj] + bj;
        }
    }
    return MG_OK;
}

/* The transposed product, for a weight gradient: C[j * ldc + r] (+)= sum over the
 * positions q = (y, x) of A(q, r) * B[q][j], A(q, r) = a[y * a_row + x + koff[r]],
 * B (h*w positions x n) packed by direct_pack_b. Tiles of taps x channels, split over
 * threads; each sums all positions in order, so results do not depend on the split. */
static int gemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const real *a,
                         ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                         const real *bpk, int accumulate, real *c, ptrdiff_t ldc,
                         int num_threads)
{
    if (k <= 0 || n <= 0) return MG_OK;
    const direct_kernel *kr = active_direct();
    const int v = direct_t_height(kr, k), mr = kr->mr_t[v], nr = kr->nr;
    const direct_t_fn run_t = kr->run_t[v][a_col - 1];
    const ptrdiff_t tiles_r = (k + mr - 1) / mr, blocks = (n + nr - 1) / nr;
    const ptrdiff_t units = tiles_r * blocks;
    int nt = num_threads < 1 ? 1 : num_threads;
    if (units < 2 * nt || (double)h * w * n * k < 64.0 * 64 * 64) nt = 1;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (ptrdiff_t u = 0; u < units; u++) {
        const ptrdiff_t jb = u / tiles_r, r0 = u % tiles_r * mr;
        const ptrdiff_t rows = k - r0 < mr ? k - r0 : mr;
        const ptrdiff_t cols = n - jb * nr < nr ? n - jb * nr : nr;
        ptrdiff_t offs[16];
        for (ptrdiff_t i = 0; i < mr; i++) offs[i] = koff[r0 + (i < rows ? i : rows - 1)];
        real tile[DK_MAX_TILE] __attribute__((aligned(64)));
        if (h > 0 && w > 0)
            run_t(h, w, a, a_row, offs, bpk + jb * h * w * nr, tile);
        else
            memset(tile, 0, sizeof tile);
        for (ptrdiff_t jj = 0; jj < cols; jj++) {
            real *cj = c + (jb * nr + jj) * ldc + r0;
            if (accumulate)
                for (ptrdiff_t i = 0; i < rows; i++) cj[i] += tile[i * nr + jj];
            else
                for (ptrdiff_t i = 0; i < rows; i++) cj[i] = tile[i * nr + jj];
        }
    }
    return MG_OK;
}
