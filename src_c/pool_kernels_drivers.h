/* Parallel drivers of the pooling family, instantiated per element type by
 * pool_kernels.c.  They split the work over OpenMP threads (tasks: a block of
 * output rows of one plane in the forward, a whole plane in the backward), own
 * the per-thread buffers (allocated once per call, reused for every task), and
 * call the row kernels of the instruction set chosen at run time.
 * Requires: T, SFX, POW, SQRT. */

#define FT(name) MG_CAT2(name, SFX)

/* The row kernels of one instruction set, for type T. */
typedef struct {
    void (*max_vblock_idx)(const T *, const T *, int, const mg_pool_axis *, int, int, T *,
                           int32_t *, int, int);
    void (*max_vblock)(const T *, const T *, int, const mg_pool_axis *, int, int, T *, int, int);
    void (*sum_vblock)(const T *, const T *, int, const mg_pool_axis *, int, int, T *, int, int,
                       int, T);
    void (*max_hblock_idx)(const T *, const int32_t *, T *, int32_t *, int, T *, int32_t *,
                           const mg_pool_axis *, int, int, int, int);
    void (*max_hblock)(const T *, T *, int, T *, const mg_pool_axis *, int, int, int, int);
    void (*sum_hblock)(const T *, T *, int, T *, const mg_pool_axis *, int, int, int, int);
    void (*emit_idx)(const T *, const int32_t *, int, int, int, T *, int64_t *);
    void (*emit)(const T *, int, int, int, T *);
    void (*hscatter)(const T *, int, int, const mg_pool_axis *, T *, T *, int, int);
    void (*add_row)(T *, const T *, int);
} FT(mg_pool_rowops);

#define MG_ROWOPS(SUF, ISA_)                                                    \
    {MG_CAT3(max_vblock_idx, SUF, ISA_), MG_CAT3(max_vblock, SUF, ISA_),         \
     MG_CAT3(sum_vblock, SUF, ISA_),     MG_CAT3(max_hblock_idx, SUF, ISA_),     \
     MG_CAT3(max_hblock, SUF, ISA_),     MG_CAT3(sum_hblock, SUF, ISA_),         \
     MG_CAT3(emit_idx, SUF, ISA_),       MG_CAT3(emit, SUF, ISA_),               \
     MG_CAT3(hscatter, SUF, ISA_),                                               \
     MG_CAT3(add_row, SUF, ISA_)}

#ifndef MG_POOL_CHUNK_DEFINED
#define MG_POOL_CHUNK_DEFINED
/* Work is handed out in chunks of about 1/16 of a thread's share, first come
 * first served: on a machine shared with other jobs a thread that gets
 * descheduled no longer holds up the whole call (as a static split would),
 * and each task (a plane, or a block of rows) is big enough that taking a
 * chunk costs nothing measurable.  Results do not depend on the split. */
/* Below this many elements a call is over before a second thread would
 * even wake up, so it runs on the calling thread alone. */
#define MG_POOL_SERIAL_BELOW 32768

static inline int mg_pool_threads(int nt, int64_t work)
{
    return work < MG_POOL_SERIAL_BELOW || nt < 1 ? 1 : nt;
}

static inline int64_t mg_pool_chunk(int64_t n_tasks, int nt)
{
    const int64_t c = n_tasks / (16 * (int64_t)(nt > 0 ? nt : 1));
    return c > 0 ? c : 1;
}

#endif

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

/* Layout of the forward passes' buffers (see pool_kernels_rows.h): blocks of
 * R output rows of one plane, buffer rows of Wb = OWp * stride columns. */
typedef struct {
    int pad, OWp, Wb, R, n_blocks, nb, n_out_max;
} FT(mg_pool_layout);

static FT(mg_pool_layout) FT(mg_pool_plan)(int W, const mg_pool_axis *rows,
                                           const mg_pool_axis *cols)
{
    /* Worked out in 64 bits: a wide window or stride can push the buffer
     * sizes past int even on a small plane (a global pooling over a row of
     * 2^26 values needs ~2^32 buffer elements); then nb = -1 (too big). */
    FT(mg_pool_layout) L;
    const int64_t OW = cols->n_out, s = cols->regular ? cols->stride : 1;
    int64_t pad = 0, OWp = OW, Wb = W;
    if (cols->regular) {
        /* a buffer row must hold pad + W columns and the widest window */
        int64_t need = (int64_t)cols->pad + W;
        const int64_t reach = (OW - 1) * s + (int64_t)(cols->k - 1) * cols->step + 1;
        if (reach > need) need = reach;
        pad = cols->pad;
        OWp = (need + s - 1) / s;
        Wb = OWp * s;
    }
    /* Blocks of ~384 buffer elements: small enough that the block's buffers and
     * the input rows it shares with the next block stay in L1 (measured: 2x
     * faster than 4096-element blocks on the 56x56 case, same on 28x28). */
    int64_t R = 384 / Wb;
    if (R < 1) R = 1;
    if (R > rows->n_out) R = rows->n_out;
    const int64_t n_out_max = MG_POOL_ROUND(R * OWp) + MG_POOL_VEC;
    /* rows, plus slack for the rounded reads of the last row and the widest
     * tap of the rounded output run; twice that for the two halves of the
     * stride-2 deinterleave */
    const int64_t nb = 2 * (R * Wb + pad + MG_POOL_ROUND((int64_t)W) + n_out_max * s +
                            (int64_t)cols->k * cols->step + 4 * MG_POOL_VEC);
    L.pad = (int)pad;
    L.OWp = (int)OWp;
    L.Wb = (int)Wb;
    L.R = (int)R;
    L.n_blocks = (int)((rows->n_out + R - 1) / R);
    L.n_out_max = (int)n_out_max;
    L.nb = nb > INT32_MAX ? -1 : (int)nb;
    return L;
}

typedef struct {
    T *bv, *ph, *ym;
    int32_t *bi, *phi, *im;
} FT(mg_pool_bufs);

static int FT(mg_pool_bufs_init)(FT(mg_pool_bufs) *b, const FT(mg_pool_layout) *L, int want_idx,
                                 T neutral)
{
    b->bv = malloc(sizeof(T) * (size_t)L->nb);
    b->ph = malloc(sizeof(T) * (size_t)L->nb);
    b->ym = malloc(sizeof(T) * (size_t)L->n_out_max);
    b->bi = want_idx ? malloc(sizeof(int32_t) * (size_t)L->nb) : NULL;
    b->phi = want_idx ? malloc(sizeof(int32_t) * (size_t)L->nb) : NULL;
    b->im = want_idx ? malloc(sizeof(int32_t) * (size_t)L->n_out_max) : NULL;
    if (!b->bv || !b->ph || !b->ym || (want_idx && (!b->bi || !b->phi || !b->im))) return 0;
    for (int i = 0; i < L->nb; i++) b->bv[i] = neutral;
    if (want_idx)
        for (int i = 0; i < L->nb; i++) b->bi[i] = INT32_MAX;
    return 1;
}

static void FT(mg_pool_bufs_free)(FT(mg_pool_bufs) *b)
{
    free(b->bv);
    free(b->ph);
    free(b->ym);
    free(b->bi);
    free(b->phi);
    free(b->im);
}

int FT(mg_max_pool2d_fwd)(const T *x, T *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
{
    nt = mg_pool_threads(nt, P * (int64_t)H * W);
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const FT(mg_pool_layout) L = FT(mg_pool_plan)(W, rows, cols);
    if (L.nb < 0) return MG_POOL_ESIZE;
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t n_tasks = P * L.n_blocks, plane = (int64_t)H * W;
    const T *x_end = x + P * plane;
    int err = 0;
    const int64_t chunk = mg_pool_chunk(n_tasks, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        FT(mg_pool_bufs) b;
        /* Every thread must reach the worksharing loop, even without buffers. */
        const int ok = FT(mg_pool_bufs_init)(&b, &L, yi != NULL, (T)-INFINITY);
        if (!ok) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < n_tasks; task++) {
            if (!ok) continue;
            const int64_t p = task / L.n_blocks;
            const int oh0 = (int)(task - p * L.n_blocks) * L.R;
            const int oh1 = oh0 + L.R < OH ? oh0 + L.R : OH, R = oh1 - oh0;
            const int n = MG_POOL_ROUND(R * L.OWp);
            const T *xp = x + p * plane;
            const int64_t out0 = (p * OH + oh0) * (int64_t)OW;
            if (yi) {
                ops->max_vblock_idx(xp, x_end, W, rows, oh0, oh1, b.bv, b.bi, L.Wb, L.pad);
                ops->max_hblock_idx(b.bv, b.bi, b.ph, b.phi, L.nb, b.ym, b.im, cols, R, L.Wb,
                                    L.OWp, n);
                ops->emit_idx(b.ym, b.im, R, L.OWp, OW, y + out0, yi + out0);
            } else {
                ops->max_vblock(xp, x_end, W, rows, oh0, oh1, b.bv, L.Wb, L.pad);
                ops->max_hblock(b.bv, b.ph, L.nb, b.ym, cols, R, L.Wb, L.OWp, n);
                ops->emit(b.ym, R, L.OWp, OW, y + out0);
            }
        }
        FT(mg_pool_bufs_free)(&b);
    }
    return err;
}

int FT(mg_max_pool2d_bwd)(const T *gy, const int64_t *yi, T *gx, int64_t P, int64_t n_out,
                          int64_t n_in, int nt)
{
    nt = mg_pool_threads(nt, P * n_in);
    int err = 0;
    const int64_t chunk = mg_pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel for num_threads(nt) schedule(dynamic, chunk) reduction(| : err)
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
    nt = mg_pool_threads(nt, P * (int64_t)H * W);
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const FT(mg_pool_layout) L = FT(mg_pool_plan)(W, rows, cols);
    if (L.nb < 0) return MG_POOL_ESIZE;
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t n_tasks = P * L.n_blocks, plane = (int64_t)H * W;
    const T *x_end = x + P * plane;
    const int mode = FT(mg_pool_mode)(norm_p);
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const T inv_p = (T)(lp ? 1.0 / norm_p : 1.0);
    int err = 0;
    const int64_t chunk = mg_pool_chunk(n_tasks, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        FT(mg_pool_bufs) b;
        const int ok = FT(mg_pool_bufs_init)(&b, &L, 0, (T)0);
        if (!ok) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < n_tasks; task++) {
            if (!ok) continue;
            const int64_t p = task / L.n_blocks;
            const int oh0 = (int)(task - p * L.n_blocks) * L.R;
            const int oh1 = oh0 + L.R < OH ? oh0 + L.R : OH, R = oh1 - oh0;
            const T *xp = x + p * plane;
            ops->sum_vblock(xp, x_end, W, rows, oh0, oh1, b.bv, L.Wb, L.pad, mode, (T)norm_p);
            ops->sum_hblock(b.bv, b.ph, L.nb, b.ym, cols, R, L.Wb, L.OWp,
                            MG_POOL_ROUND(R * L.OWp));
            for (int j = 0; j < R; j++) {
                T *restrict yr = y + (p * OH + oh0 + j) * (int64_t)OW;
                const T *restrict sr = b.ym + j * L.OWp;
                const T rf = rfac[oh0 + j];
                for (int o = 0; o < OW; o++) yr[o] = sr[o] * rf * cfac[o];
                /* Lp: the p-th root of the (rescaled) sum of powers. */
                if (mode == 1)
                    for (int o = 0; o < OW; o++) yr[o] = SQRT(yr[o]);
                else if (lp)
                    for (int o = 0; o < OW; o++) yr[o] = POW(yr[o], inv_p);
            }
        }
        FT(mg_pool_bufs_free)(&b);
    }
    return err;
}

int FT(mg_sum_pool2d_bwd)(const T *gy, const T *x, const T *y, T *gx, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, const T *rfac,
                          const T *cfac, double norm_p, int nt)
{
    nt = mg_pool_threads(nt, P * (int64_t)H * W);
    const FT(mg_pool_rowops) *ops = FT(mg_pool_ops)();
    const FT(mg_pool_layout) L = FT(mg_pool_plan)(W, rows, cols);
    if (L.nb < 0) return MG_POOL_ESIZE;
    const int OH = rows->n_out, OW = cols->n_out;
    const int64_t plane = (int64_t)H * W, oplane = (int64_t)OH * OW;
    const int lp = norm_p != 0.0 && norm_p != 1.0;
    const T p = (T)norm_p;
    int err = 0;
    const int64_t chunk = mg_pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* g: a block's gradient per window (rows at stride OWp); tw: that
         * spread over the padded input columns -- the horizontal half of the
         * transpose; ph: the even/odd halves hscatter works in. */
        T *g = malloc(sizeof(T) * (size_t)L.n_out_max);
        T *tw = malloc(sizeof(T) * (size_t)L.nb);
        T *ph = malloc(sizeof(T) * (size_t)L.nb);
        const int ok = g && tw && ph;
        if (!ok) err |= MG_POOL_ENOMEM;
        /* A task is a whole plane: blocks of one plane add into shared input
         * rows where windows overlap, so they stay on one thread, in order. */
#pragma omp for schedule(dynamic, chunk)
        for (int64_t pl = 0; pl < P; pl++) {
            if (!ok) continue;
            T *gxp = gx + pl * plane;
            memset(gxp, 0, sizeof(T) * (size_t)plane);
            for (int oh0 = 0; oh0 < OH; oh0 += L.R) {
                const int R = oh0 + L.R < OH ? L.R : OH - oh0;
                for (int j = 0; j < R; j++) {
                    const int oh = oh0 + j;
                    const int64_t ro = pl * oplane + (int64_t)oh * OW;
                    T *restrict gj = g + j * L.OWp;
                    for (int o = 0; o < OW; o++) gj[o] = gy[ro + o] * rfac[oh] * cfac[o];
                    if (lp) {
                        /* d y / d s = y^(1-p) / p and d s / d x = p x^(p-1),
                         * with x^(p-1) applied below; an all-zero window
                         * gets 0. */
                        for (int o = 0; o < OW; o++) {
                            const T yo = y[ro + o];
                            gj[o] = yo == 0 ? (T)0
                                            : (p == 2 ? gj[o] / yo : gj[o] * POW(yo, 1 - p));
                        }
                    }
                    for (int o = OW; o < L.OWp; o++) gj[o] = 0;
                }
                ops->hscatter(g, R, L.OWp, cols, tw, ph, L.nb / 2, L.Wb);
                for (int j = 0; j < R; j++) {
                    const int oh = oh0 + j;
                    const T *twc = tw + j * L.Wb + L.pad; /* input column 0 */
                    for (int t = 0; t < rows->count[oh]; t++)
                        ops->add_row(gxp + (int64_t)(rows->start[oh] + t * rows->step) * W, twc,
                                     W);
                }
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
        free(ph);
    }
    return err;
}

int FT(mg_max_unpool_fwd)(const T *x, const int64_t *idx, T *y, int64_t P, int64_t n_in,
                          int64_t n_out, int nt)
{
    nt = mg_pool_threads(nt, P * n_out);
    int err = 0;
    const int64_t chunk = mg_pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel for num_threads(nt) schedule(dynamic, chunk) reduction(| : err)
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
    nt = mg_pool_threads(nt, P * n_out);
    int err = 0;
    const int64_t chunk = mg_pool_chunk(P, nt);
    (void)chunk; /* unused in a serial build */
#pragma omp parallel num_threads(nt) reduction(| : err)
    {
        /* Two inputs naming the same position: the forward kept the later one,
         * so only it receives the gradient.  winner[i] = the input written last. */
        int64_t *winner = malloc(sizeof(int64_t) * (size_t)n_out);
        if (!winner) err |= MG_POOL_ENOMEM;
#pragma omp for schedule(dynamic, chunk)
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
