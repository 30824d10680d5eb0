/* Parallel drivers of the pooling family, instantiated per element type by
 * pool_kernels.c.  They split the work over OpenMP threads, own the per-thread
 * row buffers (allocated once per call, reused for every row), and call the
 * row kernels of the instruction set chosen at run time.
 * Requires: T, SFX, POW, SQRT. */

#define FT(name) MG_CAT2(name, SFX)

/* The row kernels of one instruction set, for type T. */
typedef struct {
    void (*max_vpass_idx)(const T *, int, int, int, int, T *, int32_t *);
    void (*max_vpass)(const T *, int, int, int, int, T *);
    void (*max_hpass_idx)(const T *, const int32_t *, T *, int64_t *, const mg_pool_axis *);
    void (*max_hpass)(const T *, T *, const mg_pool_axis *);
    void (*sum_vpass)(const T *, int, int, int, int, T *, int, T);
    void (*sum_hpass)(const T *, T *, const T *, T, const mg_pool_axis *);
    void (*add_row)(T *, const T *, int);
} FT(mg_pool_rowops);

#define MG_ROWOPS(SUF, ISA_)                                                    \
    {MG_CAT3(max_vpass_idx, SUF, ISA_), MG_CAT3(max_vpass, SUF, ISA_),           \
     MG_CAT3(max_hpass_idx, SUF, ISA_), MG_CAT3(max_hpass, SUF, ISA_),           \
     MG_CAT3(sum_vpass, SUF, ISA_),     MG_CAT3(sum_hpass, SUF, ISA_),           \
     MG_CAT3(add_row, SUF, ISA_)}

static const FT(mg_pool_rowops) FT(mg_pool_ops_table)[3] = {
    MG_ROWOPS(SFX, generic),
#if MG_POOL_X86
    MG_ROWOPS(SFX, avx2),
    MG_ROWOPS(SFX, avx512),
#endif
};

static const FT(mg_pool_rowops) *FT(mg_pool_ops)(void)
{
    return &FT(mg_pool_ops_table)[mg_pool_isa_level()];
}

int FT(mg_max_pool2d_fwd)(const T *x, T *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
{
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t n_rows = P * OH, plane = (int64_t)H * W;
    int err = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        T *bv = malloc(sizeof(T) * (size_t)W);
        int32_t *bi = yi ? malloc(sizeof(int32_t) * (size_t)W) : NULL;
        /* Every thread must reach the worksharing loop, even without buffers. */
        const int ok = bv && (!yi || bi);
        if (!ok) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n_rows; r++) {
            if (!ok) continue;
            const int64_t p = r / OH;
            const int oh = (int)(r - p * OH);
            const T *xp = x + p * plane;
            if (yi) {
                ops->max_vpass_idx(xp, W, rows->start[oh], rows->count[oh], rows->step, bv, bi);
                ops->max_hpass_idx(bv, bi, y + r * OW, yi + r * OW, cols);
            } else {
                ops->max_vpass(xp, W, rows->start[oh], rows->count[oh], rows->step, bv);
                ops->max_hpass(bv, y + r * OW, cols);
            }
        }
        free(bv);
        free(bi);
    }
    return err;
}

int FT(mg_max_pool2d_bwd)(const T *gy, const int64_t *yi, T *gx, int64_t P, int64_t n_out,
                          int64_t n_in, int nt)
{
    int err = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : err)
    for (int64_t p = 0; p < P; p++) {
        T *g = gx + p * n_in;
        const T *go = gy + p * n_out;
        const int64_t *ix = yi + p * n_out;
        memset(g, 0, sizeof(T) * (size_t)n_in);
        for (int64_t o = 0; o < n_out; o++) {
            const int64_t i = ix[o];
            if (i < 0 || i >= n_in) {
                err |= MG_POOL_EINDEX;
                continue;
            }
            g[i] += go[o];
        }
    }
    return err;
}

/* f(x) of the vertical pass: 0 plain sum, 1 squares, 2 general power. */
static int FT(mg_pool_mode)(double norm_p)
{
    return norm_p == 0.0 ? 0 : norm_p == 2.0 ? 1 : norm_p == 1.0 ? 0 : 2;
}

int FT(mg_sum_pool2d_fwd)(const T *x, T *y, int64_t P, int H, int W, const mg_pool_axis *rows,
                          const mg_pool_axis *cols, const T *rfac, const T *cfac, double norm_p,
                          int nt)
{
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t n_rows = P * OH, plane = (int64_t)H * W;
    const int mode = FT(mg_pool_mode)(norm_p);
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const T inv_p = (T)(lp ? 1.0 / norm_p : 1.0);
    int err = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        T *bs = malloc(sizeof(T) * (size_t)W);
        if (!bs) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n_rows; r++) {
            if (!bs) continue;
            const int64_t p = r / OH;
            const int oh = (int)(r - p * OH);
            T *yr = y + r * OW;
            ops->sum_vpass(x + p * plane, W, rows->start[oh], rows->count[oh], rows->step, bs,
                           mode, (T)norm_p);
            ops->sum_hpass(bs, yr, cfac, rfac[oh], cols);
            /* Lp: the p-th root of the (rescaled) sum of powers. */
            if (mode == 1)
                for (int o = 0; o < OW; o++) yr[o] = SQRT(yr[o]);
            else if (lp)
                for (int o = 0; o < OW; o++) yr[o] = POW(yr[o], inv_p);
        }
        free(bs);
    }
    return err;
}

int FT(mg_sum_pool2d_bwd)(const T *gy, const T *x, const T *y, T *gx, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, const T *rfac,
                          const T *cfac, double norm_p, int nt)
{
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t plane = (int64_t)H * W, oplane = (int64_t)OH * OW;
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const T p = (T)norm_p;
    int err = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* g: this output row's gradient per window; tw: that spread over the
         * W input columns (the horizontal half of the transpose). */
        T *g = malloc(sizeof(T) * (size_t)OW);
        T *tw = malloc(sizeof(T) * (size_t)W);
        const int ok = g && tw;
        if (!ok) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(static)
        for (int64_t pl = 0; pl < P; pl++) {
            if (!ok) continue;
            T *gxp = gx + pl * plane;
            memset(gxp, 0, sizeof(T) * (size_t)plane);
            for (int oh = 0; oh < OH; oh++) {
                const int64_t ro = pl * oplane + (int64_t)oh * OW;
                for (int o = 0; o < OW; o++) g[o] = gy[ro + o] * rfac[oh] * cfac[o];
                if (lp) {
                    /* d y / d s = y^(1-p) / p and d s / d x = p x^(p-1), with
                     * the x^(p-1) applied below; an all-zero window gets 0. */
                    for (int o = 0; o < OW; o++) {
                        const T yo = y[ro + o];
                        g[o] = yo == 0 ? (T)0 : (p == 2 ? g[o] / yo : g[o] * POW(yo, 1 - p));
                    }
                }
                memset(tw, 0, sizeof(T) * (size_t)W);
                for (int o = 0; o < OW; o++) {
                    const int c0 = cols->start[o], n = cols->count[o];
                    for (int t = 0; t < n; t++) tw[c0 + t * cols->step] += g[o];
                }
                for (int t = 0; t < rows->count[oh]; t++)
                    ops->add_row(gxp + (int64_t)(rows->start[oh] + t * rows->step) * W, tw, W);
            }
            if (lp) {
                const T *xp = x + pl * plane;
                if (p == 2)
                    for (int64_t i = 0; i < plane; i++) gxp[i] *= xp[i];
                else
                    for (int64_t i = 0; i < plane; i++) gxp[i] *= POW(xp[i], p - 1);
            }
        }
        free(g);
        free(tw);
    }
    return err;
}

int FT(mg_max_unpool_fwd)(const T *x, const int64_t *idx, T *y, int64_t P, int64_t n_in,
                          int64_t n_out, int nt)
{
    int err = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : err)
    for (int64_t p = 0; p < P; p++) {
        T *yp = y + p * n_out;
        memset(yp, 0, sizeof(T) * (size_t)n_out);
        for (int64_t k = 0; k < n_in; k++) {
            const int64_t i = idx[p * n_in + k];
            if (i < 0 || i >= n_out) {
                err |= MG_POOL_EINDEX;
                continue;
            }
            yp[i] = x[p * n_in + k];
        }
    }
    return err;
}

int FT(mg_max_unpool_bwd)(const T *gy, const int64_t *idx, T *gx, int64_t P, int64_t n_in,
                          int64_t n_out, int nt)
{
    int err = 0;
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* Two inputs naming the same position: the forward kept the later one,
         * so only it receives the gradient.  winner[i] = the input written last. */
        int64_t *winner = malloc(sizeof(int64_t) * (size_t)n_out);
        if (!winner) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < P; p++) {
            if (!winner) continue;
            const int64_t *ix = idx + p * n_in;
            for (int64_t k = 0; k < n_in; k++)
                if (ix[k] >= 0 && ix[k] < n_out) winner[ix[k]] = k;
            for (int64_t k = 0; k < n_in; k++) {
                const int64_t i = ix[k];
                if (i < 0 || i >= n_out) {
                    err |= MG_POOL_EINDEX;
                    gx[p * n_in + k] = 0;
                    continue;
                }
                gx[p * n_in + k] = winner[i] == k ? gy[p * n_out + i] : (T)0;
            }
        }
        free(winner);
    }
    return err;
}

#undef FT
