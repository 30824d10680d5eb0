/* conv_template.h -- c, g and h for one element type; conv_kernels.c includes it once
 * per type after defining CT_T (float / double), CT(name) (name ## _f32 / _f64) and
 * CT_GEMM (mg_sgemm / mg_dgemm). See conv_kernels.h for the equations. */

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

/* A 1x1 kernel with unit stride, no padding and the same output size reads the image
 * itself as its columns: no unfolding needed. */
static int CT(is_pointwise)(const mg_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 &&
           s->h_out == s->h_in && s->w_out == s->w_in;
}

/* c for one image: Z_g = K_g . cols_g for each group g, then the bias. */
static void CT(forward_image)(const mg_conv_shape *s, const CT_T *x, const CT_T *w,
                              const CT_T *bias, CT_T *y, CT_T *cols, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;         /* outputs per group */
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw; /* taps per output */
    const CT_T *b = x;
    if (cols) {
        CT(im2col)(s, x, cols);
        b = cols;
    }
    for (ptrdiff_t g = 0; g < s->groups; g++)
        CT_GEMM(0, 0, cog, P, kg, 1, w + g * cog * kg, kg, b + g * kg * P, P, 0,
                y + g * cog * P, P, nt);
    if (bias)
        for (ptrdiff_t i = 0; i < s->c_out; i++) {
            CT_T *row = y + i * P;
            for (ptrdiff_t q = 0; q < P; q++) row[q] += bias[i];
        }
}

/* h for one image: cols_g = K_g^T . G_g, folded back onto the image. */
static void CT(backward_input_image)(const mg_conv_shape *s, const CT_T *dy, const CT_T *w,
                                     CT_T *dx, CT_T *cols, int nt)
{
    const ptrdiff_t P = s->h_out * s->w_out;
    const ptrdiff_t cog = s->c_out / s->groups;
    const ptrdiff_t kg = s->c_in / s->groups * s->kh * s->kw;
    CT_T *dst = cols ? cols : dx; /* pointwise: the columns are dx itself */
    for (ptrdiff_t g = 0; g < s->groups; g++)
        CT_GEMM(1, 0, kg, P, cog, 1, w + g * cog * kg, kg, dy + g * cog * P, P, 0,
                dst + g * kg * P, P, nt);
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
    size_t ws;
    CT_T *cols = CT(alloc_cols)(s, outer, &ws);
    if (ws && !cols) return -1;
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    if (outer == 1) {
        for (ptrdiff_t n = 0; n < s->batch; n++)
            CT(forward_image)(s, x + n * xs, w, bias, y + n * ys, cols, inner);
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
                CT(forward_image)(s, x + n * xs, w, bias, y + n * ys, my_cols, 1);
        }
    }
    free(cols);
    return 0;
}

int CT(mg_conv2d_backward_input)(const mg_conv_shape *s, const CT_T *dy, const CT_T *w,
                                 CT_T *dx, int num_threads)
{
    if (s->batch <= 0) return 0;
    int inner, outer = CT(split_threads)(s, num_threads, &inner);
    size_t ws;
    CT_T *cols = CT(alloc_cols)(s, outer, &ws);
    if (ws && !cols) return -1;
    const ptrdiff_t xs = s->c_in * s->h_in * s->w_in, ys = s->c_out * s->h_out * s->w_out;
    if (outer == 1) {
        for (ptrdiff_t n = 0; n < s->batch; n++)
            CT(backward_input_image)(s, dy + n * ys, w, dx + n * xs, cols, inner);
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
                CT(backward_input_image)(s, dy + n * ys, w, dx + n * xs, my_cols, 1);
        }
    }
    free(cols);
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
