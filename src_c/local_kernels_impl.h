/* The kernels of local_kernels.h for one element type on one instruction set.
 *
 * local_template.h includes this file once per instruction set, with
 *   real    float or double (defined by local_f32.c / local_f64.c)
 *   VEC     a vector of real one register wide (see local_template.h)
 *   IVEC    an integer vector with VEC's lanes (shuffle masks)
 *   SFX     the name suffix: the instruction set (generic, avx2, avx512)
 *   TARGET  the function attribute that enables the instruction set (or nothing)
 *   FWD_R, GI_R, GW_R, GW_Q, GWS_R, GWS_Q  register tile sizes (see each kernel)
 * so the same readable loops are compiled for AVX-512, AVX2 and plain C and the
 * best one is chosen at run time (never -march=native).
 *
 * Names used throughout (s is the mg_local_shape):
 *   p = oh * w_out + ow          an output location, P = h_out * w_out of them
 *   wl = (oh % th) * tw + ow % tw the kernel (tile) location p uses, TL = th * tw
 *   k = (c * kh + i) * kw + j     a kernel tap, K = c_in * kh * kw of them
 *   X'[c][ih][iw][n]             packed input, row of np batch lanes at
 *                                xp + ((c * hp + ih) * wp + iw) * np
 *   Y'[p][co][n]                 packed output, yp + (p * c_out + co) * np
 * Input row of tap k at location p:  ih = oh * sh + i, iw = ow * sw + j, so its
 * offset splits into loc(p) = (oh * sh * wp + ow * sw) * np plus koff[k] =
 * ((c * hp + i) * wp + j) * np, the latter tabulated once per call.
 */

#define VL ((ptrdiff_t)(sizeof(VEC) / sizeof(real))) /* batch lanes per vector: 2 .. 16 */

/* ----------------------------------------------------------- vector helpers */

static MG_INLINE TARGET VEC FN(vzero)(void)
{
    VEC v = {0};
    return v;
}
static MG_INLINE TARGET VEC FN(vload)(const real *p)
{
    VEC v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}
static MG_INLINE TARGET void FN(vstore)(real *p, VEC v) { memcpy(p, &v, sizeof v); }
static MG_INLINE TARGET real FN(vsum)(VEC v)
{
    real s = 0;
    for (int i = 0; i < (int)VL; i++) s += v[i];
    return s;
}

/* ------------------------------------------------------------ pack / unpack */

/* Transpose a VL x VL tile held as VL row vectors, in registers.  Step d swaps
 * bit d of the row index with bit d of the column index: the off-diagonal
 * d x d blocks of every 2d x 2d block trade places.  After the steps for all
 * bits every element (i, j) sits at (j, i). */
static MG_INLINE TARGET void FN(transpose_step)(VEC r[], const int d)
{
#if defined(__clang__) /* no __builtin_shuffle: plain element moves */
    for (int i = 0; i < (int)VL; i++) {
        if (i & d) continue;
        for (int j = 0; j < (int)VL; j++) {
            if (!(j & d)) continue;
            const real t = r[i][j];
            r[i][j] = r[i + d][j - d];
            r[i + d][j - d] = t;
        }
    }
#else
    IVEC lo, hi;
    for (int j = 0; j < (int)VL; j++) {
        lo[j] = (j & d) ? VL + j - d : j; /* row i keeps its own half, takes row i+d's */
        hi[j] = (j & d) ? VL + j : j + d;
    }
    for (int i = 0; i < (int)VL; i++) {
        if (i & d) continue;
        const VEC a = r[i], b = r[i + d];
        r[i] = __builtin_shuffle(a, b, lo);
        r[i + d] = __builtin_shuffle(a, b, hi);
    }
#endif
}

static MG_INLINE TARGET void FN(transpose)(VEC r[])
{
    if (VL > 8) FN(transpose_step)(r, 8);
    if (VL > 4) FN(transpose_step)(r, 4);
    if (VL > 2) FN(transpose_step)(r, 2);
    FN(transpose_step)(r, 1);
}

/* Into batch lanes: dst[q * dstride + b] = src[b * sstride + q] for q < len and
 * the VL images b (rows b >= nb read as zeros, so padding lanes come out 0).
 * Whole tiles only: a last partial tile is shifted back to overlap the one
 * before (copying twice is harmless); rows shorter than VL go element-wise. */
static TARGET void FN(to_lanes)(const real *src, ptrdiff_t sstride, int nb, real *dst,
                                ptrdiff_t dstride, ptrdiff_t len)
{
    if (len < VL) {
        for (ptrdiff_t q = 0; q < len; q++)
            for (int b = 0; b < (int)VL; b++)
                dst[q * dstride + b] = b < nb ? src[b * sstride + q] : (real)0;
        return;
    }
    for (ptrdiff_t q0 = 0; q0 < len; q0 += VL) {
        if (q0 + VL > len) q0 = len - VL;
        VEC r[VL];
        for (int b = 0; b < (int)VL; b++)
            r[b] = b < nb ? FN(vload)(src + b * sstride + q0) : FN(vzero)();
        FN(transpose)(r);
        for (int q = 0; q < (int)VL; q++) FN(vstore)(dst + (q0 + q) * dstride, r[q]);
    }
}

/* Out of batch lanes, the inverse: dst[b * dstride + q] = src[q * sstride + b]
 * for q < len and images b < nb. */
static TARGET void FN(from_lanes)(const real *src, ptrdiff_t sstride, int nb, real *dst,
                                  ptrdiff_t dstride, ptrdiff_t len)
{
    if (len < VL) {
        for (int b = 0; b < nb; b++)
            for (ptrdiff_t q = 0; q < len; q++) dst[b * dstride + q] = src[q * sstride + b];
        return;
    }
    for (ptrdiff_t q0 = 0; q0 < len; q0 += VL) {
        if (q0 + VL > len) q0 = len - VL;
        VEC r[VL];
        for (int q = 0; q < (int)VL; q++) r[q] = FN(vload)(src + (q0 + q) * sstride);
        FN(transpose)(r);
        for (int b = 0; b < nb; b++) FN(vstore)(dst + b * dstride + q0, r[b]);
    }
}

/* x (n, c, h, w)  ->  X' (c, h + 2ph, w + 2pw, np), zero padding. */
static TARGET void FN(pack_input)(const real *x, real *xp, ptrdiff_t n, ptrdiff_t np,
                                  ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                                  ptrdiff_t pw, int nt)
{
    const ptrdiff_t hp = h + 2 * ph, wp = w + 2 * pw;
    (void)nt;
#pragma omp parallel for collapse(2) schedule(dynamic, 4) num_threads(nt)
    for (ptrdiff_t ci = 0; ci < c; ci++) {
        for (ptrdiff_t ih = 0; ih < hp; ih++) {
            real *drow = xp + (ci * hp + ih) * wp * np;
            const ptrdiff_t hs = ih - ph; /* source row, outside [0, h) in the padding */
            if (hs < 0 || hs >= h) {
                memset(drow, 0, (size_t)(wp * np) * sizeof(real));
                continue;
            }
            memset(drow, 0, (size_t)(pw * np) * sizeof(real));
            memset(drow + (pw + w) * np, 0, (size_t)(pw * np) * sizeof(real));
            for (ptrdiff_t b0 = 0; b0 < np; b0 += VL) {
                const int nb = (int)(n - b0 < VL ? n - b0 : VL);
                FN(to_lanes)(x + ((b0 * c + ci) * h + hs) * w, c * h * w, nb,
                             drow + pw * np + b0, np, w);
            }
        }
    }
}

/* X' (c, h + 2ph, w + 2pw, np)  ->  x (n, c, h, w): the interior. */
static TARGET void FN(unpack_input)(const real *xp, real *x, ptrdiff_t n, ptrdiff_t np,
                                    ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                                    ptrdiff_t pw, int nt)
{
    const ptrdiff_t hp = h + 2 * ph, wp = w + 2 * pw;
    (void)nt;
#pragma omp parallel for collapse(2) schedule(dynamic, 4) num_threads(nt)
    for (ptrdiff_t ci = 0; ci < c; ci++) {
        for (ptrdiff_t ih = 0; ih < h; ih++) {
            const real *srow = xp + ((ci * hp + ih + ph) * wp + pw) * np;
            for (ptrdiff_t b0 = 0; b0 < n; b0 += VL) {
                const int nb = (int)(n - b0 < VL ? n - b0 : VL);
                FN(from_lanes)(srow + b0, np, nb, x + ((b0 * c + ci) * h + ih) * w, c * h * w, w);
            }
        }
    }
}

/* y (n, c, P)  ->  Y' (P, c, np): location-major, so the channels one location
 * needs are adjacent (and never 4 KiB apart, which would alias in L1). */
static TARGET void FN(pack_output)(const real *y, real *yp, ptrdiff_t n, ptrdiff_t np,
                                   ptrdiff_t c, ptrdiff_t P, int nt)
{
    (void)nt;
#pragma omp parallel for collapse(2) schedule(dynamic, 4) num_threads(nt)
    for (ptrdiff_t ci = 0; ci < c; ci++) {
        for (ptrdiff_t b0 = 0; b0 < np; b0 += VL) {
            const int nb = (int)(n - b0 < VL ? n - b0 : VL);
            FN(to_lanes)(y + (b0 * c + ci) * P, c * P, nb, yp + ci * np + b0, c * np, P);
        }
    }
}

/* Y' (P, c, np)  ->  y (n, c, P). */
static TARGET void FN(unpack_output)(const real *yp, real *y, ptrdiff_t n, ptrdiff_t np,
                                     ptrdiff_t c, ptrdiff_t P, int nt)
{
    (void)nt;
#pragma omp parallel for collapse(2) schedule(dynamic, 4) num_threads(nt)
    for (ptrdiff_t ci = 0; ci < c; ci++) {
        for (ptrdiff_t b0 = 0; b0 < n; b0 += VL) {
            const int nb = (int)(n - b0 < VL ? n - b0 : VL);
            FN(from_lanes)(yp + ci * np + b0, c * np, nb, y + (b0 * c + ci) * P, c * P, P);
        }
    }
}

/* ----------------------------------------------------------------- forward */

/* One register tile of eq. 9.10 at location p: output channels co0 .. co0+FWD_R-1
 * (rows past the last, rn of them valid, repeat the last one and are not
 * stored) times NB vectors of images:
 *     Y'[p][co][n] = b[co][wl] + sum_k W[co][wl][k] * X'[row_k(p)][n]          */
static MG_INLINE TARGET void FN(fwd_tile)(const int NB, ptrdiff_t K, const real *x_at_p,
                                          const ptrdiff_t *koff, const real *w_co0,
                                          ptrdiff_t w_co_stride, const real *b_co0,
                                          ptrdiff_t b_co_stride, int rn, real *y_co0,
                                          ptrdiff_t y_co_stride)
{
    VEC acc[FWD_R][4];
    const real *wr[FWD_R];
    for (int r = 0; r < FWD_R; r++) {
        const int rr = r < rn ? r : rn - 1;
        wr[r] = w_co0 + rr * w_co_stride;
        const real bias = b_co0 ? b_co0[rr * b_co_stride] : (real)0;
        for (int v = 0; v < NB; v++) acc[r][v] = FN(vzero)() + bias;
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        const real *xr = x_at_p + koff[k];
        VEC xv[4];
        for (int v = 0; v < NB; v++) xv[v] = FN(vload)(xr + v * VL);
        for (int r = 0; r < FWD_R; r++) {
            const real wk = wr[r][k];
            for (int v = 0; v < NB; v++) acc[r][v] += wk * xv[v];
        }
    }
    for (int r = 0; r < FWD_R; r++) {
        if (r >= rn) break;
        for (int v = 0; v < NB; v++) FN(vstore)(y_co0 + r * y_co_stride + v * VL, acc[r][v]);
    }
}

/* Every parallel loop below calls a TARGET function per iteration instead of holding
 * the vector code itself: clang (14, and clang-cl) outlines the body of an OpenMP region
 * into a function of its own *without* the enclosing function's target attribute, so
 * code written inside the region would be compiled for SSE2 (the AVX2 forward's hot
 * loop had no ymm instruction) and, passing AVX vectors to the inlined helpers, is an
 * ABI error on x86-64 SysV (the Linux/macOS clang build failed). gcc keeps the
 * attribute on the outlined body; either way the call costs nothing next to the work
 * of one iteration. */

/* The forward at location p: every output channel, every image. */
static TARGET void FN(forward_at)(const real *xp, const real *w, const real *b, real *yp,
                                  const mg_local_shape *s, const ptrdiff_t *koff, ptrdiff_t p)
{
    const ptrdiff_t TL = s->th * s->tw;
    const ptrdiff_t K = s->c_in * s->kh * s->kw, nvec = s->n_pad / VL, np = s->n_pad;
    const ptrdiff_t oh = p / s->w_out, ow = p % s->w_out;
    const ptrdiff_t wl = (oh % s->th) * s->tw + ow % s->tw;
    const real *x_at_p = xp + (oh * s->sh * s->wp + ow * s->sw) * np;
    for (ptrdiff_t v0 = 0; v0 < nvec; v0 += 4) {
        const int nb = (int)(nvec - v0 < 4 ? nvec - v0 : 4);
        for (ptrdiff_t co0 = 0; co0 < s->c_out; co0 += FWD_R) {
            const int rn = (int)(s->c_out - co0 < FWD_R ? s->c_out - co0 : FWD_R);
            const real *w_co0 = w + (co0 * TL + wl) * K;
            const real *b_co0 = b ? b + co0 * TL + wl : NULL;
            real *y_co0 = yp + (p * s->c_out + co0) * np + v0 * VL;
            const real *xv0 = x_at_p + v0 * VL;
#define FWD_CALL(NB_)                                                                    \
    FN(fwd_tile)(NB_, K, xv0, koff, w_co0, TL * K, b_co0, TL, rn, y_co0, np)
            switch (nb) {
            case 1: FWD_CALL(1); break;
            case 2: FWD_CALL(2); break;
            case 3: FWD_CALL(3); break;
            default: FWD_CALL(4); break;
            }
#undef FWD_CALL
        }
    }
}

static TARGET void FN(forward)(const real *xp, const real *w, const real *b, real *yp,
                               const mg_local_shape *s, const ptrdiff_t *koff, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    (void)nt;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (ptrdiff_t p = 0; p < P; p++) FN(forward_at)(xp, w, b, yp, s, koff, p);
}

/* -------------------------------------------------------------- grad input */

/* Backward of eq. 9.10 w.r.t. the input, for taps k0 .. k0+GI_R-1 at location p
 * (rn of them valid) and NB vectors of images:
 *     dX'[row_k(p)][n] += sum_co W[co][wl][k] * dY'[p][co][n]
 * The taps' rows are distinct, so the tile accumulates in registers and adds
 * once; the taps are consecutive in W, hence GI_R adjacent weights per channel. */
static MG_INLINE TARGET void FN(gi_tile)(const int NB, ptrdiff_t c_out, const real *gy_at_p,
                                         ptrdiff_t gy_co_stride, const real *w_tap0,
                                         ptrdiff_t w_co_stride, int rn, real *gx_at_p,
                                         const ptrdiff_t *koff_tap0)
{
    VEC acc[GI_R][4];
    int rr[GI_R];
    for (int r = 0; r < GI_R; r++) {
        rr[r] = r < rn ? r : rn - 1;
        for (int v = 0; v < NB; v++) acc[r][v] = FN(vzero)();
    }
    for (ptrdiff_t co = 0; co < c_out; co++) {
        const real *g = gy_at_p + co * gy_co_stride;
        const real *wc = w_tap0 + co * w_co_stride;
        VEC gv[4];
        for (int v = 0; v < NB; v++) gv[v] = FN(vload)(g + v * VL);
        for (int r = 0; r < GI_R; r++) {
            const real wk = wc[rr[r]];
            for (int v = 0; v < NB; v++) acc[r][v] += wk * gv[v];
        }
    }
    for (int r = 0; r < GI_R; r++) {
        if (r >= rn) break;
        real *d = gx_at_p + koff_tap0[r];
        for (int v = 0; v < NB; v++) FN(vstore)(d + v * VL, FN(vload)(d + v * VL) + acc[r][v]);
    }
}

/* One unit of grad_input's parallel loop (see forward_at): locations oh0..oh1 x
 * ow0..ow1, image vectors v0 .. v0+nb-1. */
static TARGET void FN(grad_input_block)(const real *gyp, const real *w, real *gxp,
                                        const mg_local_shape *s, const ptrdiff_t *koff, int nb,
                                        ptrdiff_t v0, ptrdiff_t oh0, ptrdiff_t oh1, ptrdiff_t ow0,
                                        ptrdiff_t ow1)
{
    const ptrdiff_t TL = s->th * s->tw, K = s->c_in * s->kh * s->kw, np = s->n_pad;
    for (ptrdiff_t oh = oh0; oh < oh1; oh++) {
        for (ptrdiff_t ow = ow0; ow < ow1; ow++) {
            const ptrdiff_t p = oh * s->w_out + ow;
            const ptrdiff_t wl = (oh % s->th) * s->tw + ow % s->tw;
            real *gx_at_p = gxp + (oh * s->sh * s->wp + ow * s->sw) * np + v0 * VL;
            const real *gy_at_p = gyp + p * s->c_out * np + v0 * VL;
            for (ptrdiff_t k0 = 0; k0 < K; k0 += GI_R) {
                const int rn = (int)(K - k0 < GI_R ? K - k0 : GI_R);
                const real *w_tap0 = w + wl * K + k0;
#define GI_CALL(NB_)                                                                     \
    FN(gi_tile)(NB_, s->c_out, gy_at_p, np, w_tap0, TL * K, rn, gx_at_p, koff + k0)
                switch (nb) {
                case 1: GI_CALL(1); break;
                case 2: GI_CALL(2); break;
                case 3: GI_CALL(3); break;
                default: GI_CALL(4); break;
                }
#undef GI_CALL
            }
        }
    }
}

/* Patches of neighbouring locations overlap, so two threads must never add
 * into dX' at the same time.  The output is cut into bands of whole rows (or
 * columns, if that gives more bands) and the bands run in two phases, even
 * then odd: bands of one phase are a band apart, and a band is tall enough
 * (B * stride >= kernel - stride) that their patches never meet.  Every dX'
 * element thus receives its terms in the same order whatever the thread count.
 * A location's weights W[.][wl][.] are read once, as whole rows. */
static TARGET void FN(grad_input)(const real *gyp, const real *w, real *gxp,
                                  const mg_local_shape *s, const ptrdiff_t *koff, int nt)
{
    const ptrdiff_t nvec = s->n_pad / VL, np = s->n_pad;
    const ptrdiff_t nblocks = (nvec + 3) / 4; /* blocks of up to 4 image vectors */
    /* band heights for rows and for columns; cut along whichever gives more bands */
    const ptrdiff_t Bh = s->kh > s->sh ? (s->kh - s->sh + s->sh - 1) / s->sh : 1;
    const ptrdiff_t Bw = s->kw > s->sw ? (s->kw - s->sw + s->sw - 1) / s->sw : 1;
    const int by_rows = (s->h_out + Bh - 1) / Bh >= (s->w_out + Bw - 1) / Bw;
    const ptrdiff_t len = by_rows ? s->h_out : s->w_out, B = by_rows ? Bh : Bw;
    const ptrdiff_t nbands = (len + B - 1) / B;
    const ptrdiff_t plane = s->hp * s->wp * np;
    (void)nt;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(dynamic, 1)
        for (ptrdiff_t c = 0; c < s->c_in; c++) memset(gxp + c * plane, 0, (size_t)plane * sizeof(real));
        for (int phase = 0; phase < 2; phase++) {
            const ptrdiff_t nunits = (nbands - phase + 1) / 2 * nblocks;
#pragma omp for schedule(dynamic, 1)
            for (ptrdiff_t u = 0; u < nunits; u++) {
                const ptrdiff_t band = 2 * (u / nblocks) + phase, v0 = (u % nblocks) * 4;
                const int nb = (int)(nvec - v0 < 4 ? nvec - v0 : 4);
                const ptrdiff_t i0 = band * B, i1 = i0 + B < len ? i0 + B : len;
                const ptrdiff_t oh0 = by_rows ? i0 : 0, oh1 = by_rows ? i1 : s->h_out;
                const ptrdiff_t ow0 = by_rows ? 0 : i0, ow1 = by_rows ? s->w_out : i1;
                FN(grad_input_block)(gyp, w, gxp, s, koff, nb, v0, oh0, oh1, ow0, ow1);
            }
        }
    }
}

/* ------------------------------------------------------- grad weight, bias */

/* Backward of eq. 9.10 w.r.t. kernel wl:
 *     dW[co][wl][k] = sum over locations p using wl, sum_n dY'[p][co][n] X'[row_k(p)][n]
 * The locations using wl are the class (oh, ow) = (a + i th, b + j tw); they
 * are visited in chunks of GW_PC so that one chunk's slice of dY' and X'
 * stays in cache while every (co, k) tile sweeps it.  A tile covers output
 * channels co0 .. co0+GW_R-1 and taps k0 .. k0+GW_Q-1 (rn, qn of them valid),
 * keeps a vector of partial sums over the images per pair, and adds their
 * lane sums to dW once per chunk. */
_Static_assert((GW_R * GW_Q) % (sizeof(VEC) / sizeof(real)) == 0,
               "GW_R * GW_Q must be a multiple of the lanes per vector");
#define GW_PC 32
typedef struct {
    ptrdiff_t a, b;           /* the kernel's tile row and column */
    ptrdiff_t ncols, count;   /* class columns, class size */
} FN(gw_class);

static MG_INLINE TARGET void FN(gw_tile)(const real *gyp, const real *xp, const mg_local_shape *s,
                                         const ptrdiff_t *koff, const ptrdiff_t *x_off,
                                         const ptrdiff_t *gy_off, int pc, ptrdiff_t co0, int rn,
                                         ptrdiff_t k0, int qn, real *gw_at)
{
    const ptrdiff_t np = s->n_pad, nvec = np / VL;
    const ptrdiff_t K = s->c_in * s->kh * s->kw, TL = s->th * s->tw;
    VEC acc[GW_R][GW_Q];
    ptrdiff_t gy_co[GW_R], ko[GW_Q];
    for (int r = 0; r < GW_R; r++) {
        gy_co[r] = (co0 + (r < rn ? r : rn - 1)) * np;
        for (int q = 0; q < GW_Q; q++) acc[r][q] = FN(vzero)();
    }
    for (int q = 0; q < GW_Q; q++) ko[q] = koff[k0 + (q < qn ? q : qn - 1)];
    for (int i = 0; i < pc; i++) {
        const real *x_at_p = xp + x_off[i], *gy_at_p = gyp + gy_off[i];
        for (ptrdiff_t v = 0; v < nvec; v++) {
            VEC xv[GW_Q];
            for (int q = 0; q < GW_Q; q++) xv[q] = FN(vload)(x_at_p + ko[q] + v * VL);
            for (int r = 0; r < GW_R; r++) {
                const VEC g = FN(vload)(gy_at_p + gy_co[r] + v * VL);
                for (int q = 0; q < GW_Q; q++) acc[r][q] += g * xv[q];
            }
        }
    }
    /* Lane sums of VL accumulators at once: transpose them, add the rows. */
    VEC *flat = &acc[0][0];
    for (int g = 0; g < GW_R * GW_Q; g += (int)VL) {
        FN(transpose)(flat + g);
        VEC sum = flat[g];
        for (int j = 1; j < (int)VL; j++) sum += flat[g + j];
        for (int j = 0; j < (int)VL; j++) {
            const int r = (g + j) / GW_Q, q = (g + j) % GW_Q;
            if (r < rn && q < qn) gw_at[r * TL * K + q] += sum[j];
        }
    }
}

/* A kernel used at a single location (every kernel of a locally connected
 * layer) has only the images to sum over: too short for lane-wise partial
 * sums.  There the patch is transposed to taps-innermost, pt[n][k] =
 * X'[row_k(p)][n], and the tile runs over the images with vectors of taps:
 *     dW[co][wl][k..k+VL) = sum_n dY'[p][co][n] * pt[n][k..k+VL)
 * for output channels co0 .. co0+GWS_R-1 (rn valid) and NQ tap vectors. */
static MG_INLINE TARGET void FN(gw_single_tile)(const int NQ, const real *gy_at_p, ptrdiff_t np,
                                                ptrdiff_t n, ptrdiff_t co0, int rn,
                                                const real *pt, ptrdiff_t kpad, ptrdiff_t kv0,
                                                real *gw_wl, ptrdiff_t gw_co_stride, ptrdiff_t K)
{
    VEC acc[GWS_R][GWS_Q];
    const real *g[GWS_R];
    for (int r = 0; r < GWS_R; r++) {
        g[r] = gy_at_p + (co0 + (r < rn ? r : rn - 1)) * np;
        for (int q = 0; q < NQ; q++) acc[r][q] = FN(vzero)();
    }
    for (ptrdiff_t b = 0; b < n; b++) {
        VEC pv[GWS_Q];
        for (int q = 0; q < NQ; q++) pv[q] = FN(vload)(pt + b * kpad + (kv0 + q) * VL);
        for (int r = 0; r < GWS_R; r++) {
            const real gv = g[r][b];
            for (int q = 0; q < NQ; q++) acc[r][q] += gv * pv[q];
        }
    }
    for (int r = 0; r < rn; r++) {
        real *d = gw_wl + (co0 + r) * gw_co_stride;
        for (int q = 0; q < NQ; q++) {
            const ptrdiff_t k = (kv0 + q) * VL;
            if (k + VL <= K) {
                FN(vstore)(d + k, acc[r][q]);
            } else {
                for (ptrdiff_t j = k; j < K; j++) d[j] = acc[r][q][j - k];
            }
        }
    }
}

static TARGET void FN(gw_single)(const real *gyp, const real *xp, const mg_local_shape *s,
                                 const ptrdiff_t *koff, ptrdiff_t x_off, ptrdiff_t gy_off,
                                 ptrdiff_t c0, ptrdiff_t c1, real *gw_wl, real *pt)
{
    const ptrdiff_t np = s->n_pad, K = s->c_in * s->kh * s->kw, TL = s->th * s->tw;
    const ptrdiff_t kpad = (K + VL - 1) / VL * VL, nkv = kpad / VL;
    for (ptrdiff_t k0 = 0; k0 < kpad; k0 += VL) {
        for (ptrdiff_t b0 = 0; b0 < np; b0 += VL) {
            VEC r[VL];
            for (int q = 0; q < (int)VL; q++)
                r[q] = k0 + q < K ? FN(vload)(xp + x_off + koff[k0 + q] + b0) : FN(vzero)();
            FN(transpose)(r);
            for (int b = 0; b < (int)VL; b++) FN(vstore)(pt + (b0 + b) * kpad + k0, r[b]);
        }
    }
    for (ptrdiff_t co0 = c0; co0 < c1; co0 += GWS_R) {
        const int rn = (int)(c1 - co0 < GWS_R ? c1 - co0 : GWS_R);
        for (ptrdiff_t kv0 = 0; kv0 < nkv; kv0 += GWS_Q) {
            const int nq = (int)(nkv - kv0 < GWS_Q ? nkv - kv0 : GWS_Q);
#define GWS_CALL(NQ_)                                                                    \
    FN(gw_single_tile)(NQ_, gyp + gy_off, np, s->n, co0, rn, pt, kpad, kv0, gw_wl, TL * K, K)
            if (nq == GWS_Q) /* GWS_Q is 2 or 3 */
                GWS_CALL(GWS_Q);
            else if (nq == 1)
                GWS_CALL(1);
            else
                GWS_CALL(2);
#undef GWS_CALL
        }
    }
}

/* Unit u of grad_weight's parallel loop (see forward_at): kernel wl = u / groups, the
 * output channels of channel group u % groups. pt: this thread's transposed-patch
 * buffer, or NULL. */
static TARGET void FN(grad_weight_unit)(const real *gyp, const real *xp, real *gw, real *gb,
                                        const mg_local_shape *s, const ptrdiff_t *koff,
                                        ptrdiff_t u, ptrdiff_t groups, real *pt)
{
    const ptrdiff_t TL = s->th * s->tw, np = s->n_pad;
    const ptrdiff_t K = s->c_in * s->kh * s->kw;
    const ptrdiff_t coblocks = (s->c_out + GW_R - 1) / GW_R;
    const ptrdiff_t wl = u / groups, g = u % groups;
    const ptrdiff_t cb0 = g * coblocks / groups, cb1 = (g + 1) * coblocks / groups;
    const ptrdiff_t c0 = cb0 * GW_R, c1 = cb1 * GW_R < s->c_out ? cb1 * GW_R : s->c_out;
    FN(gw_class) cls;
    cls.a = wl / s->tw;
    cls.b = wl % s->tw;
    /* locations a, a + th, ... below h_out (none when th > h_out: an unused kernel) */
    const ptrdiff_t nrows = cls.a < s->h_out ? (s->h_out - cls.a + s->th - 1) / s->th : 0;
    cls.ncols = cls.b < s->w_out ? (s->w_out - cls.b + s->tw - 1) / s->tw : 0;
    cls.count = nrows * cls.ncols;
    if (gw && cls.count == 1 && pt) {
        const ptrdiff_t oh = cls.a, ow = cls.b;
        FN(gw_single)(gyp, xp, s, koff, (oh * s->sh * s->wp + ow * s->sw) * np,
                      (oh * s->w_out + ow) * s->c_out * np, c0, c1, gw + wl * K, pt);
    } else if (gw) {
        for (ptrdiff_t co = c0; co < c1; co++)
            memset(gw + (co * TL + wl) * K, 0, (size_t)K * sizeof(real));
        for (ptrdiff_t i0 = 0; i0 < cls.count; i0 += GW_PC) {
            const int pc = (int)(cls.count - i0 < GW_PC ? cls.count - i0 : GW_PC);
            ptrdiff_t x_off[GW_PC], gy_off[GW_PC]; /* the chunk's locations: loc(p), p */
            for (int i = 0; i < pc; i++) {
                const ptrdiff_t oh = cls.a + ((i0 + i) / cls.ncols) * s->th;
                const ptrdiff_t ow = cls.b + ((i0 + i) % cls.ncols) * s->tw;
                x_off[i] = (oh * s->sh * s->wp + ow * s->sw) * np;
                gy_off[i] = (oh * s->w_out + ow) * s->c_out * np;
            }
            for (ptrdiff_t co0 = c0; co0 < c1; co0 += GW_R) {
                const int rn = (int)(c1 - co0 < GW_R ? c1 - co0 : GW_R);
                for (ptrdiff_t k0 = 0; k0 < K; k0 += GW_Q) {
                    const int qn = (int)(K - k0 < GW_Q ? K - k0 : GW_Q);
                    FN(gw_tile)(gyp, xp, s, koff, x_off, gy_off, pc, co0, rn, k0, qn,
                                gw + (co0 * TL + wl) * K + k0);
                }
            }
        }
    }
    if (gb) {
        /* db[co][wl] = sum over locations p using wl, sum_n dY'[p][co][n] */
        for (ptrdiff_t co = c0; co < c1; co++) {
            VEC acc = FN(vzero)();
            for (ptrdiff_t i = 0; i < cls.count; i++) {
                const ptrdiff_t oh = cls.a + (i / cls.ncols) * s->th;
                const ptrdiff_t ow = cls.b + (i % cls.ncols) * s->tw;
                const real *g = gyp + ((oh * s->w_out + ow) * s->c_out + co) * np;
                for (ptrdiff_t v = 0; v < np; v += VL) acc += FN(vload)(g + v);
            }
            gb[co * TL + wl] = FN(vsum)(acc);
        }
    }
}

/* Work is split by (kernel wl, group of output channels): every weight is
 * written by exactly one thread, and a weight's sum runs in the same order
 * whatever the thread count.  Channel groups exist only to give threads work
 * when there are few kernels (t = 1 x 1: one kernel). */
static TARGET void FN(grad_weight)(const real *gyp, const real *xp, real *gw, real *gb,
                                   const mg_local_shape *s, const ptrdiff_t *koff, int nt)
{
    const ptrdiff_t TL = s->th * s->tw, np = s->n_pad;
    const ptrdiff_t K = s->c_in * s->kh * s->kw;
    const ptrdiff_t coblocks = (s->c_out + GW_R - 1) / GW_R;
    ptrdiff_t groups = (2 * (ptrdiff_t)nt + TL - 1) / TL;
    if (groups > coblocks) groups = coblocks;
    const ptrdiff_t kpad = (K + VL - 1) / VL * VL;
    (void)nt;
#pragma omp parallel num_threads(nt)
    {
        /* per-thread transposed patch for kernels used once (NULL: use the general path) */
        real *pt = malloc((size_t)(np * kpad) * sizeof(real));
#pragma omp for schedule(dynamic, 1)
        for (ptrdiff_t u = 0; u < TL * groups; u++)
            FN(grad_weight_unit)(gyp, xp, gw, gb, s, koff, u, groups, pt);
        free(pt);
    }
}

#undef VL
#undef GW_PC
