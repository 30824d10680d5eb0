/* conv_template.h -- c, g and h for one element type; conv_kernels.c includes it once
 * per type after defining CT_T (float / double), CT(name) (name ## _f32 / _f64) and the
 * GEMM entry points CT_GEMM, CT_GEMM_PACKED, CT_PACK_A, CT_PACKED_A_SIZE (gemm.h).
 * See conv_kernels.h for the equations. */

/* The unfolded input ("columns") of one image: row r = (c, m, k), one per kernel tap,
 * column q = (y, x), one per output position:
 *     cols[r][q] = V[c, y*s_h - p_t + m*d_h, x*s_w - p_l + k*d_w]   (0 outside V)
 * so that eq. 9.8 becomes Z_g = K_g . cols_g. */
static void CT(im2col)(const mg_conv_shape *s, const CT_T *v, CT_T *restrict cols)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    for (ptrdiff_t c = 0; c < s->c_in; c++) {
        const CT_T *vc = v + c * s->h_in * s->w_in;
        for (ptrdiff_t m = 0; m < s->kh; m++) {
            for (ptrdiff_t k = 0; k < s->kw; k++) {
                CT_T *row = cols + ((c * s->kh + m) * s->kw + k) * P;
                /* input column of output column x is x*s_w + col0; [x_lo, x_hi) land inside */
                const ptrdiff_t col0 = k * s->dw - s->pl;
                ptrdiff_t x_lo = col0 >= 0 ? 0 : (-col0 + s->sw - 1) / s->sw;
                ptrdiff_t x_hi = s->w_in - 1 - col0 < 0 ? 0 : (s->w_in - 1 - col0) / s->sw + 1;
                if (x_lo > s->w_out) x_lo = s->w_out;
                if (x_hi > s->w_out) x_hi = s->w_out;
                if (x_hi < x_lo) x_hi = x_lo;
                for (ptrdiff_t y = 0; y < s->h_out; y++) {
                    CT_T *dst = row + y * s->w_out;
                    const ptrdiff_t a = y * s->sh - s->pt + m * s->dh; /* input row */
                    if (a < 0 || a >= s->h_in) {
                        memset(dst, 0, (size_t)s->w_out * sizeof(CT_T));
                        continue;
                    }
                    const CT_T *src = vc + a * s->w_in + col0;
                    for (ptrdiff_t x = 0; x < x_lo; x++) dst[x] = 0;
                    if (s->sw == 1)
                        memcpy(dst + x_lo, src + x_lo, (size_t)(x_hi - x_lo) * sizeof(CT_T));
                    else
                        for (ptrdiff_t x = x_lo; x < x_hi; x++) dst[x] = src[x * s->sw];
                    for (ptrdiff_t x = x_hi; x < s->w_out; x++) dst[x] = 0;
                }
            }
        }
    }
}

/* The adjoint of im2col (col2im): every column entry is added back onto the input
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

/* Implicit im2col: packs rows p0.. (kernel taps) x columns j0.. (output positions) of one
 * group's column matrix straight from the image into the GEMM's B panel, so the column
 * matrix of eq. 9.8 is never written out. */
typedef struct {
    const mg_conv_shape *s;
    const CT_T *v; /* the group's first input channel of this image */
} CT(cols_src);

static void CT(pack_cols)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                          ptrdiff_t nc, int nr, CT_T *restrict dst)
{
    const CT(cols_src) *src = (const CT(cols_src) *)ctx;
    const mg_conv_shape *s = src->s;
    const ptrdiff_t taps = s->kh * s->kw, wo = s->w_out, slivers = (nc + nr - 1) / nr;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const ptrdiff_t r = p0 + p, c = r / taps, m = r % taps / s->kw, k = r % s->kw;
        const CT_T *vc = src->v + c * s->h_in * s->w_in;
        /* input column of output column x is x*s_w + col0; [x_lo, x_hi) land inside */
        const ptrdiff_t col0 = k * s->dw - s->pl;
        const ptrdiff_t x_lo = col0 >= 0 ? 0 : (-col0 + s->sw - 1) / s->sw;
        const ptrdiff_t x_hi = s->w_in - 1 - col0 < 0 ? 0 : (s->w_in - 1 - col0) / s->sw + 1;
        ptrdiff_t y = j0 / wo, x = j0 % wo; /* output position of the next column */
        for (ptrdiff_t sl = 0; sl < slivers; sl++) {
            CT_T *d = dst + (sl * kc + p) * nr;
            const ptrdiff_t cols = nc - sl * nr < nr ? nc - sl * nr : nr;
            ptrdiff_t j = 0;
            while (j < cols) {
                /* a run of columns within one output row */
                const ptrdiff_t run = wo - x < cols - j ? wo - x : cols - j;
                const ptrdiff_t a = y * s->sh - s->pt + m * s->dh; /* input row */
                if (a < 0 || a >= s->h_in) {
                    for (ptrdiff_t t = 0; t < run; t++) d[j + t] = 0;
                } else {
                    const CT_T *row = vc + a * s->w_in + col0;
                    ptrdiff_t lo = x > x_lo ? x : x_lo, hi = x + run < x_hi ? x + run : x_hi;
                    if (lo > x + run) lo = x + run;
                    if (hi < lo) hi = lo;
                    CT_T *dj = d + j; /* dj[t] holds output column x + t */
                    for (ptrdiff_t t = 0; t < lo - x; t++) dj[t] = 0;
                    if (s->sw == 1)
                        for (ptrdiff_t t = lo - x; t < hi - x; t++) dj[t] = row[x + t];
                    else
                        for (ptrdiff_t t = lo - x; t < hi - x; t++) dj[t] = row[(x + t) * s->sw];
                    for (ptrdiff_t t = hi - x; t < run; t++) dj[t] = 0;
                }
                j += run;
                x += run;
                if (x == wo) {
                    x = 0;
                    y++;
                }
            }
            for (; j < nr; j++) d[j] = 0;
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
 * image), then the bias. */
static void CT(forward_image)(const mg_conv_shape *s, const CT_T *x, const CT_T *wpk,
                              size_t wpk_group, const CT_T *bias, CT_T *y, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;               /* outputs per group */
    const ptrdiff_t cig = s->c_in / s->groups;                /* inputs per group */
    const ptrdiff_t kg = cig * s->kh * s->kw;                 /* taps per output */
    for (ptrdiff_t g = 0; g < s->groups; g++) {
        CT(cols_src) src = {s, x + g * cig * s->h_in * s->w_in};
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
static void CT(backward_weight_image)(const mg_conv_shape *s, const CT_T *x, const CT_T *dy,
                                      CT_T *dw, int accumulate, CT_T *cols, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    const CT_T *b = x;
    if (cols) {
        CT(im2col)(s, x, cols);
        b = cols;
    }
    for (ptrdiff_t g = 0; g < s->groups; g++)
        CT_GEMM(0, 1, cog, kg, P, 1, dy + g * cog * P, P, b + g * kg * P, P,
                accumulate ? 1 : 0, dw + g * cog * kg, kg, nt);
}

/* Threads: images are independent, so each thread takes a contiguous run of them (one
 * column buffer each, allocated here once); with fewer images than threads, the
 * threads share each image's GEMMs instead. */
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

int CT(mg_conv2d_forward)(const mg_conv_shape *s, const CT_T *x, const CT_T *w,
                          const CT_T *bias, CT_T *y, int num_threads)
{
    if (s->batch <= 0) return 0;
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    (void)outer; /* unused in a serial build */
    size_t wg;
    CT_T *wpk = CT(pack_weights)(s, w, 0, &wg);
    if (!wpk) return -1;
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(outer) if (outer > 1)
#endif
    for (ptrdiff_t n = 0; n < s->batch; n++)
        CT(forward_image)(s, x + n * xs, wpk, wg, bias, y + n * ys, inner);
    free(wpk);
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
#pragma omp for schedule(static)
#endif
            for (ptrdiff_t n = 0; n < s->batch; n++)
                CT(backward_input_image)(s, dy + n * ys, wpk, wg, dx + n * xs, my_cols, 1);
        }
    }
    free(cols);
    free(wpk);
    return 0;
}

int CT(mg_conv2d_backward_weight)(const mg_conv_shape *s, const CT_T *x, const CT_T *dy,
                                  CT_T *dw, int num_threads)
{
    const ptrdiff_t wsize = s->c_out * (s->c_in / s->groups) * s->kh * s->kw;
    if (s->batch <= 0) {
        memset(dw, 0, (size_t)wsize * sizeof(CT_T));
        return 0;
    }
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    size_t ws;
    CT_T *cols = CT(alloc_cols)(s, outer, &ws);
    /* thread 0 accumulates straight into dw, thread t >= 1 into partials[t - 1] */
    CT_T *partials = outer > 1 ? (CT_T *)malloc((size_t)wsize * (outer - 1) * sizeof(CT_T)) : NULL;
    if ((ws && !cols) || (outer > 1 && !partials)) {
        free(cols);
        free(partials);
        return -1;
    }
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    if (outer == 1) {
        for (ptrdiff_t n = 0; n < s->batch; n++)
            CT(backward_weight_image)(s, x + n * xs, dy + n * ys, dw, n > 0, cols, inner);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(outer)
#endif
        {
            const int t = mg_omp_thread_id();
            CT_T *my_cols = cols ? cols + ws * t : NULL;
            CT_T *acc = t == 0 ? dw : partials + (t - 1) * wsize;
            /* the same fixed run of images per thread on every call */
            const ptrdiff_t n0 = s->batch * t / outer, n1 = s->batch * (t + 1) / outer;
            for (ptrdiff_t n = n0; n < n1; n++)
                CT(backward_weight_image)(s, x + n * xs, dy + n * ys, acc, n > n0, my_cols, 1);
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(static)
#endif
            for (ptrdiff_t e = 0; e < wsize; e++) {
                CT_T sum = dw[e];
                for (int u = 1; u < outer; u++) sum += partials[(u - 1) * wsize + e];
                dw[e] = sum;
            }
        }
    }
    free(cols);
    free(partials);
    return 0;
}

#undef CT_T
#undef CT
#undef CT_GEMM
#undef CT_GEMM_PACKED
#undef CT_PACK_A
#undef CT_PACKED_A_SIZE
