/* conv_template.h -- c, g and h for one element type; conv_kernels.c includes it once
 * per type after defining CT_T (float / double), CT(name) (name ## _f32 / _f64) and the
 * GEMM entry points CT_GEMM, CT_GEMM_PACKED, CT_PACK_A, CT_PACKED_A_SIZE (gemm.h).
 * See conv_kernels.h for the equations. */

/* ---- the zero-padded image ----
 * Copying each image once into a buffer with its zero border (and the extra rows and
 * columns the last stride step may reach) lets every later read skip bounds checks:
 * tap (m, k) of output (y, x) reads padded row y*s_h + m*d_h, column x*s_w + k*d_w. */
typedef struct {
    ptrdiff_t hp, wp; /* padded height and width */
    int needed;       /* 0: the image itself already is its padded form */
} CT(padding);

static CT(padding) CT(padding_of)(const mg_conv_shape *s)
{
    CT(padding) p;
    const ptrdiff_t reach_h = (s->h_out - 1) * s->sh + (s->kh - 1) * s->dh + 1;
    const ptrdiff_t reach_w = (s->w_out - 1) * s->sw + (s->kw - 1) * s->dw + 1;
    p.hp = s->h_in + s->pt > reach_h ? s->h_in + s->pt : reach_h;
    p.wp = s->w_in + s->pl > reach_w ? s->w_in + s->pl : reach_w;
    p.needed = s->pt || s->pl || p.hp > s->h_in || p.wp > s->w_in;
    return p;
}

/* Copy the image into the interior of vp, whose border the caller zeroed once. */
static void CT(pad_image)(const mg_conv_shape *s, CT(padding) pd, const CT_T *v, CT_T *vp)
{
    for (ptrdiff_t c = 0; c < s->c_in; c++)
        for (ptrdiff_t a = 0; a < s->h_in; a++)
            memcpy(vp + (c * pd.hp + s->pt + a) * pd.wp + s->pl, v + (c * s->h_in + a) * s->w_in,
                   (size_t)s->w_in * sizeof(CT_T));
}

/* The adjoint of im2col (col2im), for h: every column entry is added back onto the input
 * position it was read from; overlapping taps sum. dv must be zeroed by the caller. */
static void CT(col2im)(const mg_conv_shape *s, const CT_T *cols, CT_T *restrict dv)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    for (ptrdiff_t c = 0; c < s->c_in; c++) {
        CT_T *dvc = dv + c * s->h_in * s->w_in;
        for (ptrdiff_t m = 0; m < s->kh; m++) {
            for (ptrdiff_t k = 0; k < s->kw; k++) {
                const CT_T *row = cols + ((c * s->kh + m) * s->kw + k) * P;
                const ptrdiff_t col0 = k * s->dw - s->pl;
                ptrdiff_t x_lo = col0 >= 0 ? 0 : (-col0 + s->sw - 1) / s->sw;
                ptrdiff_t x_hi = s->w_in - 1 - col0 < 0 ? 0 : (s->w_in - 1 - col0) / s->sw + 1;
                if (x_lo > s->w_out) x_lo = s->w_out;
                if (x_hi > s->w_out) x_hi = s->w_out;
                for (ptrdiff_t y = 0; y < s->h_out; y++) {
                    const ptrdiff_t a = y * s->sh - s->pt + m * s->dh;
                    if (a < 0 || a >= s->h_in) continue;
                    const CT_T *src = row + y * s->w_out;
                    CT_T *dst = dvc + a * s->w_in + col0;
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
    CT(padding) pd;
    const CT_T *vp; /* the group's first channel of the padded image */
} CT(cols_src);

static void CT(pack_cols)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, CT_T *restrict dst)
{
    const CT(cols_src) *src = (const CT(cols_src) *)ctx;
    const mg_conv_shape *s = src->s;
    const ptrdiff_t taps = s->kh * s->kw, wo = s->w_out, sw = s->sw;
    const ptrdiff_t plane = src->pd.hp * src->pd.wp, row_step = s->sh * src->pd.wp;
    const ptrdiff_t y0 = j0 / wo, x0 = j0 % wo, slivers = (nc + nr - 1) / nr;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const ptrdiff_t r = p0 + p, c = r / taps, m = r % taps / s->kw, k = r % s->kw;
        /* row[x * s_w] is this tap's value for output column x of the current row */
        const CT_T *row = src->vp + c * plane + (m * s->dh) * src->pd.wp + k * s->dw +
                          y0 * row_step;
        ptrdiff_t x = x0;
        for (ptrdiff_t sl = 0; sl < slivers; sl++) {
            CT_T *restrict d = dst + (sl * kc + p) * nr;
            const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
            ptrdiff_t j = 0;
            while (j < cols) { /* runs of columns within one output row */
                const ptrdiff_t run = wo - x < cols - j ? wo - x : cols - j;
                if (sw == 1) /* libc's memcpy moves a short run in a few wide loads */
                    memcpy(d + j, row + x, (size_t)run * sizeof(CT_T));
                else
                    for (ptrdiff_t t = 0; t < run; t++) d[j + t] = row[(x + t) * sw];
                j += run;
                x += run;
                if (x == wo) {
                    x = 0;
                    row += row_step;
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
static void CT(pack_cols_t)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                            ptrdiff_t nc, int nr, CT_T *restrict dst)
{
    const CT(cols_src) *src = (const CT(cols_src) *)ctx;
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
            const CT_T *at = src->vp + y * s->sh * wp + x * s->sw; /* this position, tap 0 */
            CT_T *restrict d = dst + (sl * kc + p) * nr;
            for (ptrdiff_t j = 0; j < cols; j++) d[j] = at[tap_off[j]];
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
            if (++x == wo) {
                x = 0;
                y++;
            }
        }
    }
}

/* A plain row-major matrix as the B operand. */
typedef struct {
    const CT_T *b;
    ptrdiff_t ldb;
} CT(rows_src);

static void CT(pack_rows)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, CT_T *restrict dst)
{
    const CT(rows_src) *src = (const CT(rows_src) *)ctx;
    for (ptrdiff_t sl = 0; sl * nr < nc; sl++) {
        const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
        for (ptrdiff_t p = 0; p < kc; p++) {
            const CT_T *row = src->b + (p0 + p) * src->ldb + j0 + sl * nr;
            CT_T *d = dst + (sl * kc + p) * nr;
            for (ptrdiff_t j = 0; j < cols; j++) d[j] = row[j];
            for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
        }
    }
}

/* The weights as the A operand of every group's GEMM, packed once per call and shared
 * read-only by the threads: K_g (forward) or K_g^T (input gradient). */
static CT_T *CT(pack_weights)(const mg_conv_shape *s, const CT_T *w, int transpose,
                              size_t *per_group)
{
    const ptrdiff_t cog = s->c_out / s->groups, kg = s->c_in / s->groups * s->kh * s->kw;
    const ptrdiff_t m = transpose ? kg : cog, k = transpose ? cog : kg;
    *per_group = CT_PACKED_A_SIZE(m, k);
    CT_T *apk = (CT_T *)malloc(*per_group * s->groups * sizeof(CT_T));
    if (!apk) return NULL;
    for (ptrdiff_t g = 0; g < s->groups; g++)
        CT_PACK_A(transpose, m, k, 1, w + g * cog * kg, kg, apk + g * *per_group);
    return apk;
}

/* A 1x1 kernel with unit stride, no padding and the same output size reads the image
 * itself as its columns: no unfolding needed. */
static int CT(is_pointwise)(const mg_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 &&
           s->h_out == s->h_in && s->w_out == s->w_in;
}

/* c for one image: Z_g = K_g . cols_g for each group g (cols_g packed straight from the
 * padded image), then the bias. vp_buf: this thread's padded-image buffer, or NULL. */
static void CT(forward_image)(const mg_conv_shape *s, CT(padding) pd, const CT_T *x,
                              CT_T *vp_buf, const CT_T *wpk, size_t wpk_group,
                              const CT_T *bias, CT_T *y, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups; /* outputs per group */
    const ptrdiff_t cig = s->c_in / s->groups;  /* inputs per group */
    const ptrdiff_t kg = cig * s->kh * s->kw;   /* taps per output */
    const CT_T *vp = x;
    if (vp_buf) {
        CT(pad_image)(s, pd, x, vp_buf);
        vp = vp_buf;
    }
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        CT(cols_src) src = {s, pd, vp + g * cig * pd.hp * pd.wp};
        CT_GEMM_PACKED(cog, P, kg, wpk + g * wpk_group, CT(pack_cols), &src, 0,
                       y + g * cog * P, P, nt);
    }
    if (bias)
        for (ptrdiff_t i = 0; i < s->c_out; i++) {
            CT_T *row = y + i * P;
            for (ptrdiff_t q = 0; q < P; q++) row[q] += bias[i];
        }
}

/* h for one image: cols_g = K_g^T . G_g, folded back onto the image. */
static void CT(backward_input_image)(const mg_conv_shape *s, const CT_T *dy, const CT_T *wpk,
                                     size_t wpk_group, CT_T *dx, CT_T *cols, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    CT_T *dst = cols ? cols : dx; /* pointwise: the columns are dx itself */
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        CT(rows_src) src = {dy + g * cog * P, P};
        CT_GEMM_PACKED(kg, P, cog, wpk + g * wpk_group, CT(pack_rows), &src, 0,
                       dst + g * kg * P, P, nt);
    }
    if (cols) {
        memset(dx, 0, (size_t)(s->c_in * s->h_in * s->w_in) * sizeof(CT_T));
        CT(col2im)(s, cols, dx);
    }
}

/* g for one image, accumulated: dK_g (+)= G_g . cols_g^T */
static void CT(backward_weight_image)(const mg_conv_shape *s, CT(padding) pd, const CT_T *x,
                                      CT_T *vp_buf, const CT_T *dy, CT_T *dw, int accumulate,
                                      CT_T *apk_buf, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    const ptrdiff_t cig = s->c_in / s->groups;
    const CT_T *vp = x;
    if (vp_buf) {
        CT(pad_image)(s, pd, x, vp_buf);
        vp = vp_buf;
    }
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        /* this image's output gradient is the A operand: pack it */
        CT_T *apk = apk_buf;
        CT_PACK_A(0, cog, P, 1, dy + g * cog * P, P, apk);
        CT(cols_src) src = {s, pd, vp + g * cig * pd.hp * pd.wp};
        CT_GEMM_PACKED(cog, kg, P, apk, CT(pack_cols_t), &src, accumulate ? 1 : 0,
                       dw + g * cog * kg, kg, nt);
    }
}

/* Threads: images are independent, so threads take them one at a time (dynamically: a
 * thread slowed by a busy machine does not hold up the others), each with its own
 * buffers allocated here once per call; with fewer images than threads, the threads
 * share each image's GEMMs instead. */
static int CT(split_threads)(const mg_conv_shape *s, int nt, int *inner)
{
    int outer = nt < 1 ? 1 : nt;
#ifndef _OPENMP
    outer = 1; /* serial build: the parallel regions below would run only thread 0's share */
#endif
    if (s->batch < outer) outer = (int)s->batch;
    *inner = outer > 1 ? 1 : (nt < 1 ? 1 : nt);
    return outer;
}

static CT_T *CT(alloc_cols)(const mg_conv_shape *s, int copies, size_t *per_copy)
{
    *per_copy = CT(is_pointwise)(s) ? 0 : (size_t)(s->c_in * s->kh * s->kw * s->h_out * s->w_out);
    if (*per_copy == 0) return NULL;
    return (CT_T *)malloc(*per_copy * copies * sizeof(CT_T));
}

/* One padded-image buffer per thread (NULL when no padding is needed); each thread zeroes
 * its own so the border is zero and the pages are first touched by their user. */
static CT_T *CT(alloc_pads)(const mg_conv_shape *s, CT(padding) pd, int copies, size_t *per_copy)
{
    *per_copy = pd.needed ? (size_t)(s->c_in * pd.hp * pd.wp) : 0;
    if (*per_copy == 0) return NULL;
    return (CT_T *)malloc(*per_copy * copies * sizeof(CT_T));
}

static CT_T *CT(my_pad)(CT_T *pads, size_t per_copy)
{
    if (!pads) return NULL;
    CT_T *mine = pads + per_copy * mg_omp_thread_id();
    memset(mine, 0, per_copy * sizeof(CT_T));
    return mine;
}

int CT(mg_conv2d_forward)(const mg_conv_shape *s, const CT_T *x, const CT_T *w,
                          const CT_T *bias, CT_T *y, int num_threads)
{
    if (s->batch <= 0) return 0;
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    const CT(padding) pd = CT(padding_of)(s);
    size_t wg, ps;
    CT_T *wpk = CT(pack_weights)(s, w, 0, &wg);
    CT_T *pads = CT(alloc_pads)(s, pd, outer, &ps);
    if (!wpk || (ps && !pads)) {
        free(wpk);
        free(pads);
        return -1;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) if (outer > 1)
#endif
    {
        CT_T *my_pad = CT(my_pad)(pads, ps);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (ptrdiff_t n = 0; n < s->batch; n++)
            CT(forward_image)(s, pd, x + n * xs, my_pad, wpk, wg, bias, y + n * ys, inner);
    }
    free(wpk);
    free(pads);
    return 0;
}

int CT(mg_conv2d_backward_input)(const mg_conv_shape *s, const CT_T *dy, const CT_T *w,
                                 CT_T *dx, int num_threads)
{
    if (s->batch <= 0) return 0;
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    size_t ws, wg;
    CT_T *cols = CT(alloc_cols)(s, outer, &ws);
    CT_T *wpk = CT(pack_weights)(s, w, 1, &wg);
    if ((ws && !cols) || !wpk) {
        free(cols);
        free(wpk);
        return -1;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    if (outer == 1) {
        for (ptrdiff_t n = 0; n < s->batch; n++)
            CT(backward_input_image)(s, dy + n * ys, wpk, wg, dx + n * xs, cols, inner);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(outer)
#endif
        {
            CT_T *my_cols = cols ? cols + ws * mg_omp_thread_id() : NULL;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (ptrdiff_t n = 0; n < s->batch; n++)
                CT(backward_input_image)(s, dy + n * ys, wpk, wg, dx + n * xs, my_cols, 1);
        }
    }
    free(cols);
    free(wpk);
    return 0;
}

/* g sums over the batch. The images are cut into a fixed number of contiguous chunks,
 * each summed into its own partial in image order, and the partials are added in chunk
 * order: the result does not depend on which thread ran which chunk, nor on the thread
 * count, and is identical run to run. */
#define CONV_WEIGHT_CHUNKS 8

int CT(mg_conv2d_backward_weight)(const mg_conv_shape *s, const CT_T *x, const CT_T *dy,
                                  CT_T *dw, int num_threads)
{
    const ptrdiff_t wsize = s->c_out * (s->c_in / s->groups) * s->kh * s->kw;
    if (s->batch <= 0) {
        memset(dw, 0, (size_t)wsize * sizeof(CT_T));
        return 0;
    }
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    const ptrdiff_t chunks = s->batch < CONV_WEIGHT_CHUNKS ? s->batch : CONV_WEIGHT_CHUNKS;
    const CT(padding) pd = CT(padding_of)(s);
    size_t ps;
    /* per thread: the packed output gradient of one group (the GEMM's A operand) */
    const size_t as = CT_PACKED_A_SIZE(s->c_out / s->groups, s->h_out * s->w_out);
    CT_T *apks = (CT_T *)malloc(as * outer * sizeof(CT_T));
    CT_T *pads = CT(alloc_pads)(s, pd, outer, &ps);
    /* chunk 0 sums straight into dw, chunk u >= 1 into partials[u - 1] */
    CT_T *partials =
        chunks > 1 ? (CT_T *)malloc((size_t)wsize * (chunks - 1) * sizeof(CT_T)) : NULL;
    if (!apks || (ps && !pads) || (chunks > 1 && !partials)) {
        free(apks);
        free(pads);
        free(partials);
        return -1;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
#ifdef _OPENMP
#pragma omp parallel num_threads(outer) if (outer > 1)
#endif
    {
        CT_T *my_apk = apks + as * mg_omp_thread_id();
        CT_T *my_pad = CT(my_pad)(pads, ps);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (ptrdiff_t u = 0; u < chunks; u++) {
            CT_T *acc = u == 0 ? dw : partials + (u - 1) * wsize;
            const ptrdiff_t n0 = s->batch * u / chunks, n1 = s->batch * (u + 1) / chunks;
            for (ptrdiff_t n = n0; n < n1; n++)
                CT(backward_weight_image)(s, pd, x + n * xs, my_pad, dy + n * ys, acc, n > n0,
                                          my_apk, inner);
        }
        /* (the implicit barrier of the loop above) then reduce, split over the elements */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (ptrdiff_t e = 0; e < wsize; e++) {
            CT_T sum = dw[e];
            for (ptrdiff_t u = 1; u < chunks; u++) sum += partials[(u - 1) * wsize + e];
            dw[e] = sum;
        }
    }
    free(apks);
    free(pads);
    free(partials);
    return 0;
}

#undef CT_T
#undef CT
#undef CT_GEMM
#undef CT_GEMM_PACKED
#undef CT_PACK_A
#undef CT_PACKED_A_SIZE
