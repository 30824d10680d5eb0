/* conv_template.h -- c, g and h for one element type. conv_f32.c and conv_f64.c define
 * `real` (float / double) and the GEMM of that type under the names gemm_packed, pack_a
 * and packed_a_size (gemm.h), include this file, and spell out the exported functions of
 * conv_kernels.h over its static ones. See conv_kernels.h for the equations.
 *
 * Errors: the GEMM's and the workspaces' allocations report MG_ENOMEM (mg_common.h);
 * every function that calls them returns the OR of what it met. */

/* ---- the zero-padded image ----
 * Copying each image once into a buffer with its zero border (and the extra rows and
 * columns the last stride step may reach) lets every later read skip bounds checks:
 * tap (m, k) of output (y, x) reads padded row y*s_h + m*d_h, column x*s_w + k*d_w. */
typedef struct {
    ptrdiff_t hp, wp; /* padded height and width */
    int needed;       /* 0: the image itself already is its padded form */
} padding;

static padding padding_of(const mg_conv_shape *s)
{
    padding p;
    const ptrdiff_t reach_h = (s->h_out - 1) * s->sh + (s->kh - 1) * s->dh + 1;
    const ptrdiff_t reach_w = (s->w_out - 1) * s->sw + (s->kw - 1) * s->dw + 1;
    p.hp = s->h_in + s->pt > reach_h ? s->h_in + s->pt : reach_h;
    p.wp = s->w_in + s->pl > reach_w ? s->w_in + s->pl : reach_w;
    p.needed = s->pt || s->pl || p.hp > s->h_in || p.wp > s->w_in;
    return p;
}

/* Copy the image into the interior of vp, whose border the caller zeroed once. */
static void pad_image(const mg_conv_shape *s, padding pd, const real *v, real *vp)
{
    for (ptrdiff_t c = 0; c < s->c_in; c++)
        for (ptrdiff_t a = 0; a < s->h_in; a++)
            memcpy(vp + (c * pd.hp + s->pt + a) * pd.wp + s->pl, v + (c * s->h_in + a) * s->w_in,
                   (size_t)s->w_in * sizeof(real));
}

/* ---- strides past the kernel: work bounded by the output, not the stride ----
 * Where the stride along an axis exceeds the dilated kernel's extent, the windows leave
 * gaps that no tap reads, yet the padded image would span them all (a 1x1 kernel with
 * stride 10^6 and padding 10^6 on a 2x2 image: a 2*10^6-wide padded plane for a 3x3
 * output). Then the convolution runs instead on a compacted input that keeps, for each
 * output row (column), only the extent its window reads -- zeros where that is padding
 * -- with the stride set to the extent and no padding: the same sums, on an input of
 * output x kernel size. Returns 1 and fills *t, *xc (caller frees) when it applies, 0
 * when no axis has gaps, -1 when out of memory. */
static int compact_input(const mg_conv_shape *s, const real *x, mg_conv_shape *t, real **xc)
{
    const ptrdiff_t eh = (s->kh - 1) * s->dh + 1, ew = (s->kw - 1) * s->dw + 1;
    const int ch = s->sh > eh, cw = s->sw > ew;
    if (!ch && !cw) return 0;
    *t = *s;
    if (ch) {
        t->h_in = s->h_out * eh;
        t->sh = eh;
        t->pt = 0;
    }
    if (cw) {
        t->w_in = s->w_out * ew;
        t->sw = ew;
        t->pl = 0;
    }
    const ptrdiff_t plane = t->h_in * t->w_in, n = s->batch * s->c_in;
    *xc = (real *)calloc((size_t)(n * plane), sizeof(real));
    if (!*xc) return -1;
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t r = 0; r < t->h_in; r++) {
            /* the original (unpadded) row behind compacted row r */
            const ptrdiff_t a = ch ? r / eh * s->sh + r % eh - s->pt : r;
            if (a < 0 || a >= s->h_in) continue;
            for (ptrdiff_t q = 0; q < t->w_in; q++) {
                const ptrdiff_t b = cw ? q / ew * s->sw + q % ew - s->pl : q;
                if (b >= 0 && b < s->w_in)
                    (*xc)[i * plane + r * t->w_in + q] = x[(i * s->h_in + a) * s->w_in + b];
            }
        }
    return 1;
}

/* The adjoint of im2col (col2im), for h: every column entry is added back onto the input
 * position it was read from; overlapping taps sum. dv must be zeroed by the caller. */
static void col2im(const mg_conv_shape *s, const real *cols, ptrdiff_t ld,
                       real *restrict dv)
{
    const ptrdiff_t P = ld; /* distance between rows of cols */
    for (ptrdiff_t c = 0; c < s->c_in; c++) {
        real *dvc = dv + c * s->h_in * s->w_in;
        for (ptrdiff_t m = 0; m < s->kh; m++) {
            for (ptrdiff_t k = 0; k < s->kw; k++) {
                const real *row = cols + ((c * s->kh + m) * s->kw + k) * P;
                const ptrdiff_t col0 = k * s->dw - s->pl;
                ptrdiff_t x_lo = col0 >= 0 ? 0 : (-col0 + s->sw - 1) / s->sw;
                ptrdiff_t x_hi = s->w_in - 1 - col0 < 0 ? 0 : (s->w_in - 1 - col0) / s->sw + 1;
                if (x_lo > s->w_out) x_lo = s->w_out;
                if (x_hi > s->w_out) x_hi = s->w_out;
                for (ptrdiff_t y = 0; y < s->h_out; y++) {
                    const ptrdiff_t a = y * s->sh - s->pt + m * s->dh;
                    if (a < 0 || a >= s->h_in) continue;
                    const real *src = row + y * s->w_out;
                    real *dst = dvc + a * s->w_in + col0;
                    if (s->sw == 1)
                        for (ptrdiff_t x = x_lo; x < x_hi; x++) dst[x] += src[x];
                    else
                        for (ptrdiff_t x = x_lo; x < x_hi; x++) dst[x * s->sw] += src[x];
                }
            }
        }
    }
}

/* ---- GEMM operand packers (layout: gemm.h, "caller-packed B") ---- */

/* The unfolded input ("columns") of one image has one row r = (c, m, k) per kernel tap
 * and one column q = (y, x) per output position,
 *     cols[r][q] = Vpadded[c, y*s_h + m*d_h, x*s_w + k*d_w],
 * so that eq. 9.8 becomes one GEMM per group, Z_g = K_g . cols_g (im2col).
 *
 * Implicit im2col: packs rows p0.. (taps) x columns j0.. (positions) of a group's column
 * matrix straight from the padded image into the GEMM's B panel, so the column matrix
 * is never written out. */
typedef struct {
    const mg_conv_shape *s;
    padding pd;
    const real *vp;       /* the group's first channel of the first padded image */
    ptrdiff_t img_stride; /* distance between consecutive padded images */
} cols_src;

static void pack_cols(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, real *restrict dst)
{
    const cols_src *src = (const cols_src *)ctx;
    const mg_conv_shape *s = src->s;
    const ptrdiff_t taps = s->kh * s->kw, wo = s->w_out, sw = s->sw, P = s->h_out * wo;
    const ptrdiff_t plane = src->pd.hp * src->pd.wp, row_step = s->sh * src->pd.wp;
    /* column j0 is position (y0, x0) of image b0 of the block */
    const ptrdiff_t b0 = j0 / P, y0 = j0 % P / wo, x0 = j0 % wo, slivers = (nc + nr - 1) / nr;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const ptrdiff_t r = p0 + p, c = r / taps, m = r % taps / s->kw, k = r % s->kw;
        /* tap[b * img_stride + y * row_step + x * s_w]: this tap's value at (b, y, x) */
        const real *tap = src->vp + c * plane + (m * s->dh) * src->pd.wp + k * s->dw;
        ptrdiff_t b = b0, y = y0, x = x0;
        const real *row = tap + b * src->img_stride + y * row_step;
        for (ptrdiff_t sl = 0; sl < slivers; sl++) {
            real *restrict d = dst + (sl * kc + p) * nr;
            const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
            ptrdiff_t j = 0;
            while (j < cols) { /* runs of columns within one output row */
                const ptrdiff_t run = wo - x < cols - j ? wo - x : cols - j;
                if (sw == 1) /* libc's memcpy moves a short run in a few wide loads */
                    memcpy(d + j, row + x, (size_t)run * sizeof(real));
                else
                    for (ptrdiff_t t = 0; t < run; t++) d[j + t] = row[(x + t) * sw];
                j += run;
                x += run;
                if (x == wo) {
                    x = 0;
                    row += row_step;
                    if (++y == s->h_out) { /* on to the next image of the block */
                        y = 0;
                        row = tap + ++b * src->img_stride;
                    }
                }
            }
            for (; j < nr; j++) d[j] = 0;
        }
    }
}

/* Implicit transposed im2col, for g: op(B) = cols_g^T, i.e. rows p0.. are output
 * positions and columns j0.. kernel taps, gathered straight from the padded image:
 *     op(B)[q][r] = Vpadded[tap_offset(r) + position_offset(q)]
 * Each packed row (one position, nr taps) is written contiguously. */
static void pack_cols_t(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                            ptrdiff_t nc, int nr, real *restrict dst)
{
    const cols_src *src = (const cols_src *)ctx;
    const mg_conv_shape *s = src->s;
    const ptrdiff_t taps = s->kh * s->kw, wo = s->w_out, wp = src->pd.wp;
    const ptrdiff_t plane = src->pd.hp * wp;
    ptrdiff_t tap_off[MG_GEMM_MAX_NR];
    for (ptrdiff_t sl = 0; sl * nr < nc; sl++) {
        const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
        for (ptrdiff_t j = 0; j < cols; j++) {
            const ptrdiff_t r = j0 + sl * nr + j, c = r / taps, m = r % taps / s->kw, k = r % s->kw;
            tap_off[j] = c * plane + m * s->dh * wp + k * s->dw;
        }
        ptrdiff_t y = p0 / wo, x = p0 % wo;
        for (ptrdiff_t p = 0; p < kc; p++) {
            const real *at = src->vp + y * s->sh * wp + x * s->sw; /* this position, tap 0 */
            real *restrict d = dst + (sl * kc + p) * nr;
            for (ptrdiff_t j = 0; j < cols; j++) d[j] = at[tap_off[j]];
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
            if (++x == wo) {
                x = 0;
                y++;
            }
        }
    }
}

/* "Wide rows" (stride 1): compute the output over the padded width wp instead of w_out,
 * the extra columns thrown away afterwards. Then the column matrix row of tap (c, m, k)
 * is one contiguous stretch of the padded image,
 *     cols[r][y*wp + x] = Vpadded[c*plane + m*d_h*wp + k*d_w + (y*wp + x)],
 * and packing is a plain copy instead of short per-row runs. */
static void pack_taps(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, real *restrict dst)
{
    const cols_src *src = (const cols_src *)ctx;
    const mg_conv_shape *s = src->s;
    const ptrdiff_t taps = s->kh * s->kw, wp = src->pd.wp, plane = src->pd.hp * wp;
    const ptrdiff_t slivers = (nc + nr - 1) / nr;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const ptrdiff_t r = p0 + p, c = r / taps, m = r % taps / s->kw, k = r % s->kw;
        const real *row = src->vp + c * plane + m * s->dh * wp + k * s->dw + j0;
        for (ptrdiff_t sl = 0; sl < slivers; sl++) {
            const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
            real *d = dst + (sl * kc + p) * nr;
            const real *from = row + sl * nr;
            for (ptrdiff_t j = 0; j < cols; j++) d[j] = from[j];
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
        }
    }
}

/* Wide rows pay (wp - w_out) / w_out extra multiply-adds and a copy of the output. Worth
 * it (measured: 10% on 64 -> 64 channels at 14x14) up to about 1/6 extra, where the GEMM
 * is deep enough (64 or more taps per output) for the packing it saves to matter, and
 * the wide output still fits in L2 for its copy (at 56x56 it cost 4%). */
static int use_wide_rows(const mg_conv_shape *s, padding pd, ptrdiff_t nb)
{
    const ptrdiff_t taps = s->c_in / s->groups * s->kh * s->kw;
    const double wide_bytes = (double)(s->c_out / s->groups) * s->h_out * pd.wp * sizeof(real);
    return nb == 1 && s->sh == 1 && s->sw == 1 && taps >= 64 && wide_bytes <= 256 * 1024 &&
           (pd.wp - s->w_out) * 6 <= s->w_out;
}

/* A row-major matrix as the B operand, possibly several images side by side: column j
 * is column j % P of the matrix of image j / P, at b + (j / P) * img_stride. */
typedef struct {
    const real *b;
    ptrdiff_t ldb, P, img_stride;
} rows_src;

static void pack_rows(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, real *restrict dst)
{
    const rows_src *src = (const rows_src *)ctx;
    for (ptrdiff_t sl = 0; sl * nr < nc; sl++) {
        const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
        for (ptrdiff_t p = 0; p < kc; p++) {
            const real *row = src->b + (p0 + p) * src->ldb + j0 + sl * nr;
            real *d = dst + (sl * kc + p) * nr;
            for (ptrdiff_t j = 0; j < cols; j++) d[j] = row[j];
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
        }
    }
}

/* The same for several images side by side (column j in image j / P). */
static void pack_rows_images(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                                 ptrdiff_t nc, int nr, real *restrict dst)
{
    const rows_src *src = (const rows_src *)ctx;
    for (ptrdiff_t sl = 0; sl * nr < nc; sl++) {
        const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
        const ptrdiff_t b0 = (j0 + sl * nr) / src->P, q0 = (j0 + sl * nr) % src->P;
        for (ptrdiff_t p = 0; p < kc; p++) {
            real *d = dst + (sl * kc + p) * nr;
            for (ptrdiff_t j = 0, b = b0, q = q0; j < cols; j++) {
                d[j] = src->b[b * src->img_stride + (p0 + p) * src->ldb + q];
                if (++q == src->P) {
                    q = 0;
                    b++;
                }
            }
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
        }
    }
}

/* The weights as the A operand of every group's GEMM, packed once per call and shared
 * read-only by the threads: K_g (forward) or K_g^T (input gradient). */
static real *pack_weights(const mg_conv_shape *s, const real *w, int transpose,
                              size_t *per_group)
{
    const ptrdiff_t cog = s->c_out / s->groups, kg = s->c_in / s->groups * s->kh * s->kw;
    const ptrdiff_t m = transpose ? kg : cog, k = transpose ? cog : kg;
    *per_group = packed_a_size(m, k);
    real *apk = (real *)malloc(*per_group * s->groups * sizeof(real));
    if (!apk) return NULL;
    for (ptrdiff_t g = 0; g < s->groups; g++)
        pack_a(transpose, m, k, 1, w + g * cog * kg, kg, apk + g * *per_group);
    return apk;
}

/* A 1x1 kernel with unit stride, no padding and the same output size reads the image
 * itself as its columns: no unfolding needed. */
static int is_pointwise(const mg_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 &&
           s->h_out == s->h_in && s->w_out == s->w_in;
}

/* Small images make narrow GEMMs: N = H_out * W_out columns, computed in whole vectors
 * of 16, so a 7x7 output (49 columns) computes 64. Then c and h put several images side
 * by side in one GEMM (about 256 columns), while leaving every thread at least one
 * block; c pays a copy of its output for it, so only where more than 1/8 is wasted. The
 * arithmetic of each output element is the same whatever the blocking, so results do
 * not depend on it. */
static ptrdiff_t images_per_block(const mg_conv_shape *s, int threads)
{
    const ptrdiff_t P = s->h_out * s->w_out, computed = (P + 15) / 16 * 16;
    if (P >= 256 || (computed - P) * 8 <= P) return 1;
    ptrdiff_t nb = (256 + P - 1) / P;
    const ptrdiff_t per_thread = s->batch / (threads < 1 ? 1 : threads);
    if (nb > per_thread) nb = per_thread;
    return nb < 1 ? 1 : nb;
}

/* ---- the direct path (stride 1 or 2 along x): gemm.h's mg_?gemm_direct reads each tap
 * straight from the padded image, so neither an unfolded image nor its packing exists.
 * Taken where the micro-kernel's tile (positions along a row x output channels) divides
 * the output row and the channels with at most 1/8 waste, and the taps are many enough
 * (64 or more per output) to hide the transposed write of each tile. */
static int use_direct(const mg_conv_shape *s)
{
    int mr, nr32, nr64;
    mg_gemm_direct_tile(s->w_out, &mr, &nr32, &nr64);
    const ptrdiff_t nr = sizeof(real) == sizeof(float) ? nr32 : nr64;
    const ptrdiff_t cog = s->c_out / s->groups, kg = s->c_in / s->groups * s->kh * s->kw;
    if (s->sw > 2 || kg < 64) return 0;
    const double computed = (double)((s->w_out + mr - 1) / mr * mr) * ((cog + nr - 1) / nr * nr);
    return computed * 8 <= (double)s->w_out * cog * 9;
}

/* The weights of every group packed for the direct GEMM (64-byte aligned), and the
 * taps' offsets in the padded image: tap r = (c, m, k) at c*plane + m*d_h*wp + k*d_w. */
static real *direct_weights(const mg_conv_shape *s, const real *w, size_t *per_group)
{
    const ptrdiff_t cog = s->c_out / s->groups, kg = s->c_in / s->groups * s->kh * s->kw;
    *per_group = (direct_packed_b_size(kg, cog) + 15) / 16 * 16;
    real *wpk = (real *)mg_aligned_alloc(64, *per_group * s->groups * sizeof(real));
    if (!wpk) return NULL;
    for (ptrdiff_t g = 0; g < s->groups; g++)
        direct_pack_b(kg, cog, w + g * cog * kg, 1, kg, wpk + g * *per_group);
    return wpk;
}

static ptrdiff_t *direct_taps(const mg_conv_shape *s, padding pd)
{
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    ptrdiff_t *koff = (ptrdiff_t *)malloc((size_t)kg * sizeof(ptrdiff_t));
    if (!koff) return NULL;
    for (ptrdiff_t r = 0; r < kg; r++) {
        const ptrdiff_t c = r / (s->kh * s->kw), m = r / s->kw % s->kh, k = r % s->kw;
        koff[r] = c * pd.hp * pd.wp + m * s->dh * pd.wp + k * s->dw;
    }
    return koff;
}

/* c for one image on the direct path: y_g = K_g * (padded image) + bias, per group. */
static int forward_direct(const mg_conv_shape *s, padding pd, const real *x, real *vp,
                          const real *wpk, size_t wpk_group, const ptrdiff_t *koff,
                          const real *bias, real *y, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out, cog = s->c_out / s->groups;
    const ptrdiff_t cig = s->c_in / s->groups, kg = cig * s->kh * s->kw;
    pad_image(s, pd, x, vp);
    int err = MG_OK;
    for (ptrdiff_t g = 0; g < s->groups; g++)
        err |= gemm_direct(s->h_out, s->w_out, cog, kg, vp + g * cig * pd.hp * pd.wp,
                           s->sh * pd.wp, s->sw, koff, wpk + g * wpk_group,
                           bias ? bias + g * cog : NULL, y + g * cog * P, P, nt);
    return err;
}

/* c for a block of nb images: Z_g = K_g . cols_g for each group g (cols_g packed straight
 * from the padded images), then the bias. vp_buf: this thread's padded-image buffers, or
 * NULL; tmp: cog x nb*P scratch when nb > 1 (the GEMM's C, whose columns run across the
 * images, scattered into each image's output afterwards). */
static int forward_block(const mg_conv_shape *s, padding pd, const real *x,
                              ptrdiff_t nb, real *vp_buf, const real *wpk, size_t wpk_group,
                              const real *bias, real *y, real *tmp, int wide, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out, N = nb * P;
    const ptrdiff_t cog = s->c_out / s->groups; /* outputs per group */
    const ptrdiff_t cig = s->c_in / s->groups;  /* inputs per group */
    const ptrdiff_t kg = cig * s->kh * s->kw;   /* taps per output */
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * P;
    const real *vp = x;
    ptrdiff_t img_stride = xs;
    int err = MG_OK;
    if (vp_buf) {
        img_stride = s->c_in * pd.hp * pd.wp;
        for (ptrdiff_t b = 0; b < nb; b++) pad_image(s, pd, x + b * xs, vp_buf + b * img_stride);
        vp = vp_buf;
    }
    for (ptrdiff_t g = 0; wide && g < s->groups; g++) { /* one image, stride 1 */
        const ptrdiff_t Nw = s->h_out * pd.wp;
        cols_src src = {s, pd, vp + g * cig * pd.hp * pd.wp, img_stride};
        err |= gemm_packed(cog, Nw, kg, wpk + g * wpk_group, pack_taps, &src, 0, tmp, Nw, nt);
        for (ptrdiff_t i = 0; i < cog; i++) /* drop the extra columns of every row */
            for (ptrdiff_t yy = 0; yy < s->h_out; yy++)
                memcpy(y + (g * cog + i) * P + yy * s->w_out, tmp + i * Nw + yy * pd.wp,
                       (size_t)s->w_out * sizeof(real));
    }
    for (ptrdiff_t g = 0; !wide && g < s->groups; g++) {
        cols_src src = {s, pd, vp + g * cig * pd.hp * pd.wp, img_stride};
        real *c = nb == 1 ? y + g * cog * P : tmp;
        err |= gemm_packed(cog, N, kg, wpk + g * wpk_group, pack_cols, &src, 0, c,
                           nb == 1 ? P : N, nt);
        if (nb > 1)
            for (ptrdiff_t b = 0; b < nb; b++)
                for (ptrdiff_t i = 0; i < cog; i++)
                    memcpy(y + b * ys + (g * cog + i) * P, tmp + i * N + b * P,
                           (size_t)P * sizeof(real));
    }
    if (bias)
        for (ptrdiff_t b = 0; b < nb; b++)
            for (ptrdiff_t i = 0; i < s->c_out; i++) {
                real *row = y + b * ys + i * P;
                for (ptrdiff_t q = 0; q < P; q++) row[q] += bias[i];
            }
    return err;
}

/* h for a block of nb images: cols_g = K_g^T . G_g (the images' columns side by side),
 * folded back onto each image. cols is NULL only for a pointwise kernel and nb == 1,
 * where the columns are dx itself. */
static int backward_input_block(const mg_conv_shape *s, const real *dy, ptrdiff_t nb,
                                     const real *wpk, size_t wpk_group, real *dx, real *cols,
                                     int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out, N = nb * P;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * P;
    real *dst = cols ? cols : dx;
    int err = MG_OK;
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        rows_src src = {dy + g * cog * P, P, P, ys};
        err |= gemm_packed(kg, N, cog, wpk + g * wpk_group,
                       nb == 1 ? pack_rows : pack_rows_images, &src, 0,
                       dst + g * kg * N, N, nt);
    }
    if (cols)
        for (ptrdiff_t b = 0; b < nb; b++) {
            memset(dx + b * xs, 0, (size_t)xs * sizeof(real));
            col2im(s, cols + b * P, N, dx + b * xs);
        }
    return err;
}

/* g for one image, accumulated: dK_g (+)= G_g . cols_g^T */
static int backward_weight_image(const mg_conv_shape *s, padding pd, const real *x,
                                      real *vp_buf, const real *dy, real *dw, int accumulate,
                                      real *apk_buf, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    const ptrdiff_t cig = s->c_in / s->groups;
    const real *vp = x;
    if (vp_buf) {
        pad_image(s, pd, x, vp_buf);
        vp = vp_buf;
    }
    int err = MG_OK;
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        /* this image's output gradient is the A operand: pack it */
        real *apk = apk_buf;
        pack_a(0, cog, P, 1, dy + g * cog * P, P, apk);
        cols_src src = {s, pd, vp + g * cig * pd.hp * pd.wp, 0};
        err |= gemm_packed(cog, kg, P, apk, pack_cols_t, &src, accumulate ? 1 : 0,
                           dw + g * cog * kg, kg, nt);
    }
    return err;
}

/* Threads: images are independent, so threads take them one at a time (dynamically: a
 * thread slowed by a busy machine does not hold up the others), each with its own
 * buffers allocated here once per call; with fewer images than threads, the threads
 * share each image's GEMMs instead. */
static int split_threads(const mg_conv_shape *s, int nt, int *inner)
{
    int outer = nt < 1 ? 1 : nt;
#ifndef _OPENMP
    outer = 1; /* serial build: the parallel regions below would run only thread 0's share */
#endif
    if (s->batch < outer) outer = (int)s->batch;
    *inner = outer > 1 ? 1 : (nt < 1 ? 1 : nt);
    return outer;
}

static real *alloc_cols(const mg_conv_shape *s, ptrdiff_t nb, int copies, size_t *per_copy)
{
    *per_copy = is_pointwise(s) && nb == 1
                    ? 0
                    : (size_t)(s->c_in * s->kh * s->kw * s->h_out * s->w_out * nb);
    if (*per_copy == 0) return NULL;
    return (real *)malloc(*per_copy * copies * sizeof(real));
}

/* One padded-image buffer per thread (NULL when no padding is needed); each thread zeroes
 * its own so the border is zero and the pages are first touched by their user. */
static real *alloc_pads(const mg_conv_shape *s, padding pd, int copies, size_t *per_copy)
{
    *per_copy = pd.needed ? (size_t)(s->c_in * pd.hp * pd.wp) : 0;
    if (*per_copy == 0) return NULL;
    return (real *)malloc(*per_copy * copies * sizeof(real));
}

static real *thread_pad(real *pads, size_t per_copy)
{
    if (!pads) return NULL;
    real *mine = pads + per_copy * mg_omp_thread_id();
    memset(mine, 0, per_copy * sizeof(real));
    return mine;
}

/* c on the direct path: images split over threads as below, each with its own padded
 * copy (always made: it carries the zero border and the slack the tiles read past). */
static int conv2d_forward_direct(const mg_conv_shape *s, const real *x, const real *w,
                                 const real *bias, real *y, int num_threads)
{
    int inner, outer = split_threads(s, num_threads, &inner);
    padding pd = padding_of(s);
    const size_t ps = (size_t)(s->c_in * pd.hp * pd.wp + MG_GEMM_DIRECT_SLACK);
    size_t wg;
    real *pads = (real *)malloc(ps * outer * sizeof(real));
    real *wpk = direct_weights(s, w, &wg);
    ptrdiff_t *koff = direct_taps(s, pd);
    int err = MG_OK;
    if (!pads || !wpk || !koff) {
        err = MG_ENOMEM;
        goto done;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) if (outer > 1) reduction(| : err)
#endif
    {
        real *my_pad = thread_pad(pads, ps);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (ptrdiff_t n = 0; n < s->batch; n++)
            err |= forward_direct(s, pd, x + n * xs, my_pad, wpk, wg, koff, bias, y + n * ys,
                                  inner);
    }
done:
    free(pads);
    mg_aligned_free(wpk); /* direct_weights' buffer is aligned */
    free(koff);
    return err;
}

static int conv2d_forward(const mg_conv_shape *s, const real *x, const real *w,
                          const real *bias, real *y, int num_threads)
{
    if (s->batch <= 0) return MG_OK;
    mg_conv_shape t;
    real *xc;
    const int compacted = compact_input(s, x, &t, &xc);
    if (compacted < 0) return MG_ENOMEM;
    if (compacted) {
        const int err = conv2d_forward(&t, xc, w, bias, y, num_threads);
        free(xc);
        return err;
    }
    if (use_direct(s)) return conv2d_forward_direct(s, x, w, bias, y, num_threads);
    int inner, outer = split_threads(s, num_threads, &inner);
    const padding pd = padding_of(s);
    const ptrdiff_t nb = images_per_block(s, outer), blocks = (s->batch + nb - 1) / nb;
    const int wide = use_wide_rows(s, pd, nb);
    size_t wg, ps;
    size_t ts = nb > 1 ? (size_t)(s->c_out / s->groups * nb * s->h_out * s->w_out) : 0;
    real *pads;
    if (wide) {
        /* always a padded copy (nb == 1), with slack: the last tap's stretch runs past
         * the plane */
        ts = (size_t)(s->c_out / s->groups * s->h_out * pd.wp);
        ps = (size_t)(s->c_in * pd.hp * pd.wp + (s->kw - 1) * s->dw + pd.wp);
        pads = (real *)malloc(ps * outer * sizeof(real));
    } else {
        pads = alloc_pads(s, pd, outer * (int)nb, &ps);
    }
    real *wpk = pack_weights(s, w, 0, &wg);
    real *tmps = ts ? (real *)malloc(ts * outer * sizeof(real)) : NULL;
    if (!wpk || (ps && !pads) || (ts && !tmps)) {
        free(wpk);
        free(pads);
        free(tmps);
        return MG_ENOMEM;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    int err = MG_OK;
    if (outer == 1) {
        if (pads) memset(pads, 0, ps * nb * sizeof(real));
        for (ptrdiff_t n = 0; n < s->batch; n += nb)
            err |= forward_block(s, pd, x + n * xs, s->batch - n < nb ? s->batch - n : nb, pads,
                              wpk, wg, bias, y + n * ys, tmps, wide, inner);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) reduction(| : err)
#endif
        {
            real *my_pad = pads ? pads + ps * nb * mg_omp_thread_id() : NULL;
            if (my_pad) memset(my_pad, 0, ps * nb * sizeof(real));
            real *my_tmp = tmps ? tmps + ts * mg_omp_thread_id() : NULL;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (ptrdiff_t u = 0; u < blocks; u++) {
                const ptrdiff_t n = u * nb, count = s->batch - n < nb ? s->batch - n : nb;
                err |= forward_block(s, pd, x + n * xs, count, my_pad, wpk, wg, bias, y + n * ys,
                                  my_tmp, wide, 1);
            }
        }
    }
    free(wpk);
    free(pads);
    free(tmps);
    return err;
}

/* h with stride 1 is itself a convolution (the transpose of a stride-1 correlation is a
 * correlation with the kernel flipped and its channel axes swapped), of dy padded by
 * d*(k-1) - p: the shape of that convolution, when the padding is not negative. */
static int transposed_as_forward(const mg_conv_shape *s, mg_conv_shape *t)
{
    const ptrdiff_t pt = s->dh * (s->kh - 1) - s->pt, pl = s->dw * (s->kw - 1) - s->pl;
    if (s->sh != 1 || s->sw != 1 || pt < 0 || pl < 0) return 0;
    *t = *s;
    t->c_in = s->c_out;
    t->h_in = s->h_out;
    t->w_in = s->w_out;
    t->c_out = s->c_in;
    t->h_out = s->h_in;
    t->w_out = s->w_in;
    t->pt = pt;
    t->pl = pl;
    return 1;
}

/* h as that forward convolution on the direct path: w2[g][ci][co][m][k] =
 * w[g][co][ci][kh-1-m][kw-1-k] within each group. */
static int conv2d_backward_input_direct(const mg_conv_shape *s, const mg_conv_shape *t,
                                        const real *dy, const real *w, real *dx, int nt)
{
    const ptrdiff_t cog = s->c_out / s->groups, cig = s->c_in / s->groups;
    const ptrdiff_t kk = s->kh * s->kw;
    real *w2 = (real *)malloc((size_t)(s->c_out * cig * kk) * sizeof(real));
    if (!w2) return MG_ENOMEM;
    for (ptrdiff_t g = 0; g < s->groups; g++)
        for (ptrdiff_t co = 0; co < cog; co++)
            for (ptrdiff_t ci = 0; ci < cig; ci++)
                for (ptrdiff_t q = 0; q < kk; q++)
                    w2[((g * cig + ci) * cog + co) * kk + q] =
                        w[((g * cog + co) * cig + ci) * kk + (kk - 1 - q)];
    const int err = conv2d_forward_direct(t, dy, w2, NULL, dx, nt);
    free(w2);
    return err;
}

static int conv2d_backward_input(const mg_conv_shape *s, const real *dy, const real *w,
                                 real *dx, int num_threads)
{
    if (s->batch <= 0) return MG_OK;
    mg_conv_shape t;
    if (transposed_as_forward(s, &t) && use_direct(&t))
        return conv2d_backward_input_direct(s, &t, dy, w, dx, num_threads);
    int inner, outer = split_threads(s, num_threads, &inner);
    const ptrdiff_t nb = images_per_block(s, outer), blocks = (s->batch + nb - 1) / nb;
    size_t ws, wg;
    real *cols = alloc_cols(s, nb, outer, &ws);
    real *wpk = pack_weights(s, w, 1, &wg);
    if ((ws && !cols) || !wpk) {
        free(cols);
        free(wpk);
        return MG_ENOMEM;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    int err = MG_OK;
    if (outer == 1) {
        for (ptrdiff_t n = 0; n < s->batch; n += nb)
            err |= backward_input_block(s, dy + n * ys, s->batch - n < nb ? s->batch - n : nb,
                                     wpk, wg, dx + n * xs, cols, inner);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) reduction(| : err)
#endif
        {
            real *my_cols = cols ? cols + ws * mg_omp_thread_id() : NULL;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (ptrdiff_t u = 0; u < blocks; u++) {
                const ptrdiff_t n = u * nb, count = s->batch - n < nb ? s->batch - n : nb;
                err |= backward_input_block(s, dy + n * ys, count, wpk, wg, dx + n * xs,
                                            my_cols, 1);
            }
        }
    }
    free(cols);
    free(wpk);
    return err;
}

/* g on the direct path (stride 1 or 2 along x): dK_g (+)= G_g . cols_g^T with the
 * columns read from the padded image by mg_?gemm_direct_t and G_g packed per image (one
 * plane per output channel). Taken for every such stride: even where the tiles round the
 * taps or channels up (9 taps in tiles of 8, 20 channels in 32), skipping the transposed
 * gather of the columns more than pays for it (measured: 1->32 3x3 on 28x28, 3.4 ->
 * 2.5 ms; 1->20 5x5, 5.7 -> 5.2 ms; 20->50 5x5 on 12x12, no change). */
static int use_direct_weight(const mg_conv_shape *s) { return s->sw <= 2; }

static int backward_weight_direct(const mg_conv_shape *s, padding pd, const real *x,
                                  real *vp, const real *dy, real *dw, int accumulate,
                                  real *gpk, const ptrdiff_t *koff, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out, cog = s->c_out / s->groups;
    const ptrdiff_t cig = s->c_in / s->groups, kg = cig * s->kh * s->kw;
    pad_image(s, pd, x, vp);
    int err = MG_OK;
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        direct_pack_b(P, cog, dy + g * cog * P, 1, P, gpk);
        err |= gemm_direct_t(s->h_out, s->w_out, cog, kg, vp + g * cig * pd.hp * pd.wp,
                             s->sh * pd.wp, s->sw, koff, gpk, accumulate, dw + g * cog * kg, kg,
                             nt);
    }
    return err;
}

/* ---- g on the direct path for small images: several images in one product ----
 * Each call of gemm_direct_t writes its whole dK_g tile by tile, transposed (about one
 * cycle per weight), and sums only one image's positions: on a 7x7 output that write is
 * a fifth of the time. A block of nb images goes through one call instead, their padded
 * images interleaved row by row so that the product still walks positions at a constant
 * row distance: padded row u of image b is stored at row
 *     (u % s_h) * HV + u / s_h     (its phase, then its row within the phase)
 * of image b's slot, the images' slots side by side (nb rows of wp values), so output
 * row Y = y * nb + b of the block reads, for tap (c, m, k),
 *     c * plane + ((m*d_h % s_h) * HV + m*d_h / s_h + y) * nb * wp + b * wp + k * d_w
 * = Y * wp + koff[r]: an ordinary direct product of nb * h_out rows. Its B operand is
 * the output gradient with the same rows interleaved. No position is made up, so no
 * zero times an infinite input enters a sum. */
typedef struct {
    ptrdiff_t nb;    /* images per block */
    ptrdiff_t hv;    /* padded rows per row phase */
    ptrdiff_t plane; /* one channel of a block: s_h * hv rows of nb * wp values */
} weight_block;

static weight_block weight_block_of(const mg_conv_shape *s, padding pd, ptrdiff_t nb)
{
    weight_block wb;
    wb.nb = nb;
    wb.hv = (pd.hp + s->sh - 1) / s->sh;
    wb.plane = s->sh * wb.hv * nb * pd.wp;
    return wb;
}

/* Images per block: about 256 positions per product, at most 8 images; 1 (image by
 * image, as before) from 128 positions up. Measured, 1 thread: T 64->32 7->14 (49
 * positions, 6 images) 3.69 -> 3.26 ms, 20->50 5x5 on 12x12 (64, 4) 12.5 -> 11.2 ms; but
 * at 14x14 (196, 2) the interleaving copies cost what the write saved: 64->64 19.2 ->
 * 19.1 ms, 32->64 stride 2 10.7 -> 11.2 ms. */
static ptrdiff_t weight_images_per_block(const mg_conv_shape *s)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    if (P >= 128) return 1;
    const ptrdiff_t nb = (256 + P - 1) / P;
    return nb < 8 ? nb : 8;
}

/* The nb images x[b] (b < nb, image stride xs) into the interleaved padded block vb,
 * every value written (borders and phase rows included), so no zeroing is needed. */
static void pad_block(const mg_conv_shape *s, padding pd, weight_block wb, const real *x,
                      ptrdiff_t xs, real *restrict vb)
{
    for (ptrdiff_t b = 0; b < wb.nb; b++)
        for (ptrdiff_t c = 0; c < s->c_in; c++)
            for (ptrdiff_t u = 0; u < s->sh * wb.hv; u++) {
                real *row = vb + c * wb.plane + ((u % s->sh) * wb.hv + u / s->sh) * wb.nb * pd.wp +
                            b * pd.wp;
                const ptrdiff_t a = u - s->pt; /* the image row behind padded row u */
                if (a < 0 || a >= s->h_in) {
                    memset(row, 0, (size_t)pd.wp * sizeof(real));
                    continue;
                }
                for (ptrdiff_t q = 0; q < s->pl; q++) row[q] = 0; /* a column or two */
                memcpy(row + s->pl, x + b * xs + (c * s->h_in + a) * s->w_in,
                       (size_t)s->w_in * sizeof(real));
                for (ptrdiff_t q = s->pl + s->w_in; q < pd.wp; q++) row[q] = 0;
            }
}

/* dK (+)= the products of a block of wb.nb images. dyb: cog x nb*P scratch (the output
 * gradient of one group, rows interleaved), koff: kg scratch. */
static int backward_weight_block(const mg_conv_shape *s, padding pd, weight_block wb,
                                 const real *x, real *vb, const real *dy, real *dyb,
                                 real *dw, int accumulate, real *gpk, ptrdiff_t *koff, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out, cog = s->c_out / s->groups;
    const ptrdiff_t cig = s->c_in / s->groups, kg = cig * s->kh * s->kw;
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * P, nP = wb.nb * P;
    pad_block(s, pd, wb, x, xs, vb);
    for (ptrdiff_t r = 0; r < kg; r++) {
        const ptrdiff_t c = r / (s->kh * s->kw), m = r / s->kw % s->kh, k = r % s->kw;
        const ptrdiff_t row = (m * s->dh % s->sh) * wb.hv + m * s->dh / s->sh;
        koff[r] = c * wb.plane + row * wb.nb * pd.wp + k * s->dw;
    }
    int err = MG_OK;
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        for (ptrdiff_t j = 0; j < cog; j++) /* row y of image b to row y * nb + b */
            for (ptrdiff_t b = 0; b < wb.nb; b++)
                for (ptrdiff_t y = 0; y < s->h_out; y++)
                    memcpy(dyb + j * nP + (y * wb.nb + b) * s->w_out,
                           dy + b * ys + (g * cog + j) * P + y * s->w_out,
                           (size_t)s->w_out * sizeof(real));
        direct_pack_b(nP, cog, dyb, 1, nP, gpk);
        err |= gemm_direct_t(wb.nb * s->h_out, s->w_out, cog, kg, vb + g * cig * wb.plane, pd.wp,
                             s->sw, koff, gpk, accumulate, dw + g * cog * kg, kg, nt);
    }
    return err;
}

/* g sums over the batch. The images are cut into a fixed number of contiguous chunks,
 * each summed into its own partial in image order, and the partials are added in chunk
 * order: the result does not depend on which thread ran which chunk, nor on the thread
 * count, and is identical run to run. */
#define CONV_WEIGHT_CHUNKS 8

static int conv2d_backward_weight(const mg_conv_shape *s, const real *x, const real *dy,
                                  real *dw, int num_threads)
{
    const ptrdiff_t wsize = s->c_out * (s->c_in / s->groups) * s->kh * s->kw;
    if (s->batch <= 0) {
        memset(dw, 0, (size_t)wsize * sizeof(real));
        return MG_OK;
    }
    mg_conv_shape t;
    real *xc;
    const int compacted = compact_input(s, x, &t, &xc);
    if (compacted < 0) return MG_ENOMEM;
    if (compacted) {
        const int err = conv2d_backward_weight(&t, xc, dy, dw, num_threads);
        free(xc);
        return err;
    }
    int inner, outer = split_threads(s, num_threads, &inner);
    const ptrdiff_t chunks = s->batch < CONV_WEIGHT_CHUNKS ? s->batch : CONV_WEIGHT_CHUNKS;
    padding pd = padding_of(s);
    const int direct = use_direct_weight(s);
    size_t ps;
    /* per thread: the packed output gradient of one group (the GEMM's A operand, or the
     * direct product's B operand). Each thread's share is rounded up to 16 elements so
     * that every share starts 64-byte aligned and the total is a multiple of 64 bytes,
     * which C11's aligned_alloc requires (glibc lets it pass, ASan refuses it). Freed
     * with mg_aligned_free (mg_common.h), like every mg_aligned_alloc buffer. */
    const ptrdiff_t P = s->h_out * s->w_out, cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    /* images per product on the direct path (blocks of a chunk; its last may be short) */
    const ptrdiff_t nb = direct ? weight_images_per_block(s) : 1;
    const size_t need = direct ? direct_packed_b_size(nb * P, cog) : packed_a_size(cog, P);
    const size_t as = (need + 15) / 16 * 16;
    real *apks = (real *)mg_aligned_alloc(64, as * outer * sizeof(real));
    if (direct) pd.needed = 1; /* the direct product reads a padded copy */
    real *pads = NULL, *dybs = NULL;
    ptrdiff_t *koff = NULL;
    const size_t dbs = (size_t)(cog * nb * P);
    if (nb > 1) { /* per thread: an interleaved padded block, its output gradient, koff */
        ps = (size_t)weight_block_of(s, pd, nb).plane * s->c_in;
        pads = (real *)malloc(ps * outer * sizeof(real));
        dybs = (real *)malloc(dbs * outer * sizeof(real));
        koff = (ptrdiff_t *)malloc((size_t)(kg * outer) * sizeof(ptrdiff_t));
    } else {
        pads = alloc_pads(s, pd, outer, &ps);
        koff = direct ? direct_taps(s, pd) : NULL;
    }
    /* chunk 0 sums straight into dw, chunk u >= 1 into partials[u - 1] */
    real *partials =
        chunks > 1 ? (real *)malloc((size_t)wsize * (chunks - 1) * sizeof(real)) : NULL;
    if (!apks || (ps && !pads) || (chunks > 1 && !partials) || (direct && !koff) ||
        (nb > 1 && !dybs)) {
        mg_aligned_free(apks);
        free(pads);
        free(dybs);
        free(partials);
        free(koff);
        return MG_ENOMEM;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    int err = MG_OK;
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) if (outer > 1) reduction(| : err)
#endif
    {
        const int me = mg_omp_thread_id();
        real *my_apk = apks + as * me;
        /* (a block is written whole by pad_block: no zeroing) */
        real *my_pad = nb > 1 ? pads + ps * me : thread_pad(pads, ps);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (ptrdiff_t u = 0; u < chunks; u++) {
            real *acc = u == 0 ? dw : partials + (u - 1) * wsize;
            const ptrdiff_t n0 = s->batch * u / chunks, n1 = s->batch * (u + 1) / chunks;
            for (ptrdiff_t n = n0; nb > 1 && n < n1; n += nb) {
                const weight_block wb = weight_block_of(s, pd, n1 - n < nb ? n1 - n : nb);
                err |= backward_weight_block(s, pd, wb, x + n * xs, my_pad, dy + n * ys,
                                             dybs + dbs * me, acc, n > n0, my_apk, koff + kg * me,
                                             inner);
            }
            for (ptrdiff_t n = n0; nb == 1 && n < n1; n++)
                err |= direct ? backward_weight_direct(s, pd, x + n * xs, my_pad, dy + n * ys,
                                                       acc, n > n0, my_apk, koff, inner)
                              : backward_weight_image(s, pd, x + n * xs, my_pad, dy + n * ys,
                                                      acc, n > n0, my_apk, inner);
        }
        /* (the implicit barrier of the loop above) then reduce, split over the elements */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (ptrdiff_t e = 0; e < wsize; e++) {
            real sum = dw[e];
            for (ptrdiff_t u = 1; u < chunks; u++) sum += partials[(u - 1) * wsize + e];
            dw[e] = sum;
        }
    }
    mg_aligned_free(apks);
    free(pads);
    free(dybs);
    free(partials);
    free(koff);
    return err;
}
