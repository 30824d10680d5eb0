/* Parallel drivers of the pooling family, for the element type `real` (pool_template.h).
 * They split the work over OpenMP threads (tasks: a block of output rows of one plane in
 * the forward, a whole plane in the backward), own the per-thread buffers (allocated once
 * per call, reused for every task), and call the row kernels of the instruction set
 * mg_cpu_isa() names. */

/* The row kernels of one instruction set. */
typedef struct {
    void (*max_vblock_idx)(const real *, const real *, int, const mg_pool_axis *, int, int,
                           real *, int32_t *, ptrdiff_t, ptrdiff_t);
    void (*max_vblock)(const real *, const real *, int, const mg_pool_axis *, int, int, real *,
                       ptrdiff_t, ptrdiff_t);
    void (*sum_vblock)(const real *, const real *, int, const mg_pool_axis *, int, int, real *,
                       ptrdiff_t, ptrdiff_t, int, real);
    void (*max_hblock_idx)(const real *, const int32_t *, real *, int32_t *, ptrdiff_t, real *,
                           int32_t *, const mg_pool_axis *, int, int, ptrdiff_t, ptrdiff_t,
                           ptrdiff_t);
    void (*max_hblock)(const real *, real *, ptrdiff_t, real *, const mg_pool_axis *, int, int,
                       ptrdiff_t, ptrdiff_t, ptrdiff_t);
    void (*sum_hblock)(const real *, real *, ptrdiff_t, real *, const mg_pool_axis *, int, int,
                       ptrdiff_t, ptrdiff_t, ptrdiff_t);
    void (*emit_idx)(const real *, const int32_t *, int, ptrdiff_t, ptrdiff_t, real *,
                     int64_t *);
    void (*emit)(const real *, int, ptrdiff_t, ptrdiff_t, real *);
    void (*hscatter)(const real *, int, ptrdiff_t, const mg_pool_axis *, int, real *, real *,
                     ptrdiff_t, ptrdiff_t);
    void (*add_row)(real *, const real *, ptrdiff_t);
} rowops;

/* Work is handed out in chunks of about 1/16 of a thread's share, first come first
 * served: on a machine shared with other jobs a thread that gets descheduled no longer
 * holds up the whole call (as a static split would), and each task (a plane, or a block
 * of rows) is big enough that taking a chunk costs nothing measurable. Results do not
 * depend on the split. Below MG_POOL_SERIAL_BELOW elements a call is over before a
 * second thread would even wake up, so it runs on the calling thread alone. */
#define MG_POOL_SERIAL_BELOW 32768

static inline int pool_threads(int nt, int64_t work)
{
    return work < MG_POOL_SERIAL_BELOW || nt < 1 ? 1 : nt;
}

static inline int64_t pool_chunk(int64_t n_tasks, int nt)
{
    const int64_t c = n_tasks / (16 * (int64_t)(nt > 0 ? nt : 1));
    return c > 0 ? c : 1;
}

/* indexed by mg_isa */
static const rowops ROWOPS[] = {
    ROWOPS_OF(generic),
#if MG_X86
    ROWOPS_OF(avx2),
    ROWOPS_OF(avx512),
#endif
};

static const rowops *active_rowops(void) { return &ROWOPS[mg_cpu_isa()]; }

/* Layout of the forward passes' buffers (see pool_kernels_rows.h): blocks of R output
 * rows of one plane, buffer rows of Wb columns. Every size is bounded by the input row
 * (never by the kernel size, stride or padding values): a sliding window of stride <= 2
 * whose padded row is at most about twice the input row runs the flat one-loop
 * horizontal pass on rows of Wb = OWp * stride padded columns; anything else (a wider
 * stride, a window mostly of padding, an adaptive window) goes output by output over
 * the input columns alone (Wb = W, no padding), reading only each window's taps inside
 * the input. */
typedef struct {
    ptrdiff_t pad, OWp, Wb, nb, n_out_max;
    int R, n_blocks, flat;
} layout;

static layout plan(int W, const mg_pool_axis *rows, const mg_pool_axis *cols)
{
    layout L;
    const int64_t OW = cols->n_out;
    /* a flat buffer row must hold pad + W columns and the widest window */
    int64_t need = (int64_t)cols->pad + W;
    const int64_t reach = (OW - 1) * cols->stride + (int64_t)(cols->k - 1) * cols->step + 1;
    if (reach > need) need = reach;
    const int flat = cols->regular && cols->stride <= 2 && need <= 2 * (int64_t)W + 64;
    const int64_t s = flat ? cols->stride : 1;
    int64_t pad = 0, OWp = OW, Wb = W;
    if (flat) {
        pad = cols->pad;
        OWp = (need + s - 1) / s;
        Wb = OWp * s;
    }
    /* Blocks of ~384 buffer elements: small enough that the block's buffers and the
     * input rows it shares with the next block stay in L1 (measured: 2x faster than
     * 4096-element blocks on the 56x56 case, same on 28x28). */
    int64_t R = 384 / Wb;
    if (R < 1) R = 1;
    if (R > rows->n_out) R = rows->n_out;
    const int64_t n_out_max = MG_POOL_ROUND(R * OWp) + MG_POOL_VEC;
    /* rows, plus slack for the rounded reads of the last row and (flat pass) the widest
     * tap of the rounded output run; in the flat layout twice that, for the two halves
     * of the stride-2 deinterleave (the ph buffers, allocated only then) */
    L.nb = (flat ? 2 : 1) * (R * Wb + pad + MG_POOL_ROUND((int64_t)W) +
                             (flat ? n_out_max * s + (int64_t)cols->k * cols->step : 0) +
                             4 * MG_POOL_VEC);
    L.flat = flat;
    L.pad = pad;
    L.OWp = OWp;
    L.Wb = Wb;
    L.R = (int)R;
    L.n_blocks = (int)((rows->n_out + R - 1) / R);
    L.n_out_max = n_out_max;
    return L;
}

typedef struct {
    real *bv, *ph, *ym;
    int32_t *bi, *phi, *im;
} bufs;

static int bufs_init(bufs *b, const layout *L, int want_idx,
                                 real neutral)
{
    const int need_ph = L->flat; /* the stride-2 deinterleave's halves */
    b->bv = malloc(sizeof(real) * (size_t)L->nb);
    b->ph = need_ph ? malloc(sizeof(real) * (size_t)L->nb) : NULL;
    b->ym = malloc(sizeof(real) * (size_t)L->n_out_max);
    b->bi = want_idx ? malloc(sizeof(int32_t) * (size_t)L->nb) : NULL;
    b->phi = want_idx && need_ph ? malloc(sizeof(int32_t) * (size_t)L->nb) : NULL;
    b->im = want_idx ? malloc(sizeof(int32_t) * (size_t)L->n_out_max) : NULL;
    if (!b->bv || (need_ph && !b->ph) || !b->ym ||
        (want_idx && (!b->bi || (need_ph && !b->phi) || !b->im)))
        return 0;
    for (ptrdiff_t i = 0; i < L->nb; i++) b->bv[i] = neutral;
    if (want_idx)
        for (ptrdiff_t i = 0; i < L->nb; i++) b->bi[i] = INT32_MAX;
    return 1;
}

static void bufs_free(bufs *b)
{
    free(b->bv);
    free(b->ph);
    free(b->ym);
    free(b->bi);
    free(b->phi);
    free(b->im);
}

/* f(x) of the vertical pass: 0 plain sum, 1 squares, 2 general power. */
static int vertical_mode(double norm_p)
{
    return norm_p == 0.0 ? 0 : norm_p == 2.0 ? 1 : norm_p == 1.0 ? 0 : 2;
}

/* R rows of window sums (stride OWp in the scratch) to their place, rows of OW:
 * y = s * rfac[row] * cfac[col], and for Lp pooling the p-th root of that. */
static void emit_scaled(const real *restrict ym, int R, ptrdiff_t OWp, int OW, real *restrict y,
                        const real *rfac, const real *cfac, int mode, int lp, real inv_p)
{
    for (int j = 0; j < R; j++) {
        real *restrict yr = y + (int64_t)j * OW;
        const real *restrict sr = ym + j * OWp;
        const real rf = rfac[j];
        for (int o = 0; o < OW; o++) yr[o] = sr[o] * rf * cfac[o];
        /* Lp: the p-th root of the (rescaled) sum of powers. */
        if (mode == 1)
            for (int o = 0; o < OW; o++) yr[o] = SQRT(yr[o]);
        else if (lp)
            for (int o = 0; o < OW; o++) yr[o] = POW(yr[o], inv_p);
    }
}

/* The forward of max pooling (is_max; indices into yi unless it is NULL) and of
 * average / Lp pooling (window sums of f(x), scaled by rfac x cfac): a task is a block
 * of L.R output rows of one plane, which goes through the vertical pass, the
 * horizontal pass and out to y. */
static int pool2d_fwd(const real *x, real *y, int64_t *yi, int64_t P, int H, int W,
                      const mg_pool_axis *rows, const mg_pool_axis *cols, int is_max,
                      const real *rfac, const real *cfac, double norm_p, int nt)
{
    nt = pool_threads(nt, P * (int64_t)H * W);
    const rowops *ops = active_rowops();
    const layout L = plan(W, rows, cols);
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t n_tasks = P * L.n_blocks, plane = (int64_t)H * W;
    const real *x_end = x + P * plane;
    const int mode = vertical_mode(norm_p);
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const real inv_p = (real)(lp ? 1.0 / norm_p : 1.0);
    int err = 0;
    const int64_t chunk = pool_chunk(n_tasks, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        bufs b;
        /* Every thread must reach the worksharing loop, even without buffers. */
        const int ok = bufs_init(&b, &L, yi != NULL, is_max ? (real)-INFINITY : (real)0);
        if (!ok) err |= MG_ENOMEM;
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < n_tasks; task++) {
            if (!ok) continue;
            const int64_t p = task / L.n_blocks;
            const int oh0 = (int)(task - p * L.n_blocks) * L.R;
            const int oh1 = oh0 + L.R < OH ? oh0 + L.R : OH, R = oh1 - oh0;
            const ptrdiff_t n = MG_POOL_ROUND(R * L.OWp);
            const real *xp = x + p * plane;
            const int64_t out0 = (p * OH + oh0) * (int64_t)OW;
            if (!is_max) {
                ops->sum_vblock(xp, x_end, W, rows, oh0, oh1, b.bv, L.Wb, L.pad, mode,
                                (real)norm_p);
                ops->sum_hblock(b.bv, b.ph, L.nb, b.ym, cols, L.flat, R, L.Wb, L.OWp, n);
                emit_scaled(b.ym, R, L.OWp, OW, y + out0, rfac + oh0, cfac, mode, lp, inv_p);
            } else if (yi) {
                ops->max_vblock_idx(xp, x_end, W, rows, oh0, oh1, b.bv, b.bi, L.Wb, L.pad);
                ops->max_hblock_idx(b.bv, b.bi, b.ph, b.phi, L.nb, b.ym, b.im, cols, L.flat, R,
                                    L.Wb, L.OWp, n);
                ops->emit_idx(b.ym, b.im, R, L.OWp, OW, y + out0, yi + out0);
            } else {
                ops->max_vblock(xp, x_end, W, rows, oh0, oh1, b.bv, L.Wb, L.pad);
                ops->max_hblock(b.bv, b.ph, L.nb, b.ym, cols, L.flat, R, L.Wb, L.OWp, n);
                ops->emit(b.ym, R, L.OWp, OW, y + out0);
            }
        }
        bufs_free(&b);
    }
    return err;
}

static int max_pool2d_fwd(const real *x, real *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
{
    return pool2d_fwd(x, y, yi, P, H, W, rows, cols, 1, NULL, NULL, 0.0, nt);
}

static int sum_pool2d_fwd(const real *x, real *y, int64_t P, int H, int W, const mg_pool_axis *rows,
                          const mg_pool_axis *cols, const real *rfac, const real *cfac, double norm_p,
                          int nt)
{
    return pool2d_fwd(x, y, NULL, P, H, W, rows, cols, 0, rfac, cfac, norm_p, nt);
}

/* Per plane: dst = 0, then every source value goes to the position its index names,
 * dst[idx[k]] += src[k] (accumulate: several outputs of overlapping windows may name
 * one input) or dst[idx[k]] = src[k] (the later of repeated indices wins). An index
 * outside [0, n_dst) is skipped and reported. */
static inline int scatter_by_index(const real *src, const int64_t *idx, real *dst, int64_t P,
                                   int64_t n_src, int64_t n_dst, int accumulate, int nt)
{
    nt = pool_threads(nt, P * n_dst);
    int err = 0;
    const int64_t chunk = pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel for num_threads(nt) schedule(dynamic, chunk) reduction(| : err)
    for (int64_t p = 0; p < P; p++) {
        real *dp = dst + p * n_dst;
        const real *sp = src + p * n_src;
        const int64_t *ip = idx + p * n_src;
        memset(dp, 0, sizeof(real) * (size_t)n_dst);
        for (int64_t k = 0; k < n_src; k++) {
            const int64_t i = ip[k];
            if (i < 0 || i >= n_dst) {
                err |= MG_EINDEX;
                continue;
            }
            if (accumulate)
                dp[i] += sp[k];
            else
                dp[i] = sp[k];
        }
    }
    return err;
}

/* gx = 0; gx[yi[o]] += gy[o] */
static int max_pool2d_bwd(const real *gy, const int64_t *yi, real *gx, int64_t P, int64_t n_out,
                          int64_t n_in, int nt)
{
    return scatter_by_index(gy, yi, gx, P, n_out, n_in, 1, nt);
}

static int sum_pool2d_bwd(const real *gy, const real *x, const real *y, real *gx, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, const real *rfac,
                          const real *cfac, double norm_p, int nt)
{
    nt = pool_threads(nt, P * (int64_t)H * W);
    const rowops *ops = active_rowops();
    const layout L = plan(W, rows, cols);
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t plane = (int64_t)H * W, oplane = (int64_t)OH * OW;
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const real p = (real)norm_p;
    int err = 0;
    const int64_t chunk = pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* g: a block's gradient per window (rows at stride OWp); tw: that
         * spread over the padded input columns -- the horizontal half of the
         * transpose; ph: the even/odd halves hscatter works in. */
        real *g = malloc(sizeof(real) * (size_t)L.n_out_max);
        real *tw = malloc(sizeof(real) * (size_t)L.nb);
        real *ph = L.flat ? malloc(sizeof(real) * (size_t)L.nb) : NULL;
        const int ok = g && tw && (ph || !L.flat);
        if (!ok) err |= MG_ENOMEM;
        /* A task is a whole plane: blocks of one plane add into shared input
         * rows where windows overlap, so they stay on one thread, in order. */
#pragma omp for schedule(dynamic, chunk)
        for (int64_t pl = 0; pl < P; pl++) {
            if (!ok) continue;
            real *gxp = gx + pl * plane;
            memset(gxp, 0, sizeof(real) * (size_t)plane);
            for (int oh0 = 0; oh0 < OH; oh0 += L.R) {
                const int R = oh0 + L.R < OH ? L.R : OH - oh0;
                for (int j = 0; j < R; j++) {
                    const int oh = oh0 + j;
                    const int64_t ro = pl * oplane + (int64_t)oh * OW;
                    real *restrict gj = g + j * L.OWp;
                    for (int o = 0; o < OW; o++) gj[o] = gy[ro + o] * rfac[oh] * cfac[o];
                    if (lp) {
                        /* d y / d s = y^(1-p) / p and d s / d x = p x^(p-1),
                         * with x^(p-1) applied below; an all-zero window
                         * gets 0. */
                        for (int o = 0; o < OW; o++) {
                            const real yo = y[ro + o];
                            gj[o] = yo == 0 ? (real)0
                                            : (p == 2 ? gj[o] / yo : gj[o] * POW(yo, 1 - p));
                        }
                    }
                    for (int o = OW; o < L.OWp; o++) gj[o] = 0;
                }
                ops->hscatter(g, R, L.OWp, cols, L.flat, tw, ph, L.nb / 2, L.Wb);
                for (int j = 0; j < R; j++) {
                    const int oh = oh0 + j;
                    const real *twc = tw + j * L.Wb + L.pad; /* input column 0 */
                    for (int t = 0; t < rows->count[oh]; t++)
                        ops->add_row(gxp + (int64_t)(rows->start[oh] + t * rows->step) * W, twc,
                                     W);
                }
            }
            if (lp) {
                const real *xp = x + pl * plane;
                if (p == 2)
                    for (int64_t i = 0; i < plane; i++) gxp[i] *= xp[i];
                else
                    for (int64_t i = 0; i < plane; i++) gxp[i] *= POW(xp[i], p - 1);
            }
        }
        free(g);
        free(tw);
        free(ph);
    }
    return err;
}

/* y = 0; y[idx[k]] = x[k] */
static int max_unpool_fwd(const real *x, const int64_t *idx, real *y, int64_t P, int64_t n_in,
                          int64_t n_out, int nt)
{
    return scatter_by_index(x, idx, y, P, n_in, n_out, 0, nt);
}

static int max_unpool_bwd(const real *gy, const int64_t *idx, real *gx, int64_t P, int64_t n_in,
                          int64_t n_out, int nt)
{
    nt = pool_threads(nt, P * n_out);
    int err = 0;
    const int64_t chunk = pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* Two inputs naming the same position: the forward kept the later one,
         * so only it receives the gradient.  winner[i] = the input written last. */
        int64_t *winner = malloc(sizeof(int64_t) * (size_t)n_out);
        if (!winner) err |= MG_ENOMEM;
#pragma omp for schedule(dynamic, chunk)
        for (int64_t p = 0; p < P; p++) {
            if (!winner) continue;
            const int64_t *ix = idx + p * n_in;
            for (int64_t k = 0; k < n_in; k++)
                if (ix[k] >= 0 && ix[k] < n_out) winner[ix[k]] = k;
            for (int64_t k = 0; k < n_in; k++) {
                const int64_t i = ix[k];
                if (i < 0 || i >= n_out) {
                    err |= MG_EINDEX;
                    gx[p * n_in + k] = 0;
                    continue;
                }
                gx[p * n_in + k] = winner[i] == k ? gy[p * n_out + i] : (real)0;
            }
        }
        free(winner);
    }
    return err;
}

