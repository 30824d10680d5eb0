/* windows_smoke.c -- a standalone check of the kernels' C code on the Windows C runtime,
 * built and run by tools/windows_smoke.sh (mingw-w64 cross-compiler, run under Wine).
 *
 * Links the GEMM, the CPU dispatch and the float32 convolution straight from src_c (no
 * Python, no Cython: the core's real mg_sgemm* are linked in place of the families'
 * forwarders), then for every instruction set the CPU has (generic, avx2, avx512):
 *   - mg_sgemm on a few shapes, all four transpositions, beta 0 and 1, 1 and 2 threads;
 *   - mg_conv2d_forward_f32 on shapes that take the direct path (its weights come from
 *     mg_aligned_alloc), the im2col path (padded, dilated, grouped, several images per
 *     GEMM) and the compacted one (stride past the kernel);
 *   - mg_conv2d_backward_weight_f32 (its packed operands come from mg_aligned_alloc);
 * each against a naive loop in double. Prints the detected ISA and the max relative
 * errors; exits 1 on any mismatch or error status. Linked with
 * -Wl,--wrap=mg_sgemm_direct,--wrap=mg_sgemm_direct_t (the script does), it also counts
 * the direct products, to show which path each convolution took. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_kernels.h"
#include "gemm.h"
#include "mg_common.h"
#include "mg_cpu.h"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *random_floats(size_t n)
{
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static int failures = 0;

#ifdef SMOKE_WRAP_DIRECT /* GNU ld's --wrap: count the calls, then make them */
static int direct_calls = 0, direct_t_calls = 0;
int __real_mg_sgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                           ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                           const float *b_packed, const float *bias, float *c, ptrdiff_t ldc,
                           int num_threads);
int __wrap_mg_sgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                           ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                           const float *b_packed, const float *bias, float *c, ptrdiff_t ldc,
                           int num_threads)
{
    direct_calls++;
    return __real_mg_sgemm_direct(h, w, n, k, a, a_row, a_col, koff, b_packed, bias, c, ldc,
                                  num_threads);
}
int __real_mg_sgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                             ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                             const float *b_packed, int accumulate, float *c, ptrdiff_t ldc,
                             int num_threads);
int __wrap_mg_sgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                             ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                             const float *b_packed, int accumulate, float *c, ptrdiff_t ldc,
                             int num_threads)
{
    direct_t_calls++;
    return __real_mg_sgemm_direct_t(h, w, n, k, a, a_row, a_col, koff, b_packed, accumulate, c,
                                    ldc, num_threads);
}
#define DIRECT_CALLS direct_calls
#define DIRECT_T_CALLS direct_t_calls
#else
#define DIRECT_CALLS (-1)
#define DIRECT_T_CALLS (-1)
#endif

static const char *path_name(int before, int after)
{
    return before < 0 ? "" : after > before ? " [direct]" : " [im2col]";
}

/* max |got - want| / (1 + |want|) over n values */
static double max_err(const float *got, const double *want, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(d <= e)) e = d; /* a NaN sticks */
    }
    return e;
}

static void report(const char *what, double err, double tol, int status)
{
    const int bad = status != MG_OK || !(err <= tol);
    printf("  %-68s max rel err %.2e%s\n", what, err, bad ? "  <-- FAIL" : "");
    if (status != MG_OK) printf("    status %d\n", status);
    failures += bad;
}

static void check_gemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int ta, int tb, float beta, int nt)
{
    const ptrdiff_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    float *a = random_floats((size_t)(m * k)), *b = random_floats((size_t)(k * n));
    float *c = random_floats((size_t)(m * n));
    double *want = (double *)malloc((size_t)(m * n) * sizeof(double) + 1);
    const float alpha = 0.5f;
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) {
            double s = 0;
            for (ptrdiff_t p = 0; p < k; p++)
                s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                     (tb ? b[j * ldb + p] : b[p * ldb + j]);
            want[i * n + j] = alpha * s + (beta != 0 ? (double)beta * c[i * ldc + j] : 0.0);
        }
    const int st = mg_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nt);
    char what[96];
    snprintf(what, sizeof what, "sgemm %3dx%3dx%3d ta=%d tb=%d beta=%g threads=%d", (int)m,
             (int)n, (int)k, ta, tb, beta, nt);
    report(what, max_err(c, want, (size_t)(m * n)), 1e-5, st);
    free(a);
    free(b);
    free(c);
    free(want);
}

static mg_conv_shape conv_shape(ptrdiff_t batch, ptrdiff_t c_in, ptrdiff_t h, ptrdiff_t w,
                                ptrdiff_t c_out, ptrdiff_t k, ptrdiff_t stride, ptrdiff_t pad,
                                ptrdiff_t dil, ptrdiff_t groups)
{
    mg_conv_shape s;
    s.batch = batch;
    s.c_in = c_in;
    s.h_in = h;
    s.w_in = w;
    s.c_out = c_out;
    s.kh = s.kw = k;
    s.sh = s.sw = stride;
    s.pt = s.pl = pad;
    s.dh = s.dw = dil;
    s.groups = groups;
    s.h_out = (h + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    s.w_out = (w + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    return s;
}

/* the input value behind tap (m, q) of output (y, x), channel ci of image b; 0 in the padding */
static double tap(const mg_conv_shape *s, const float *x, ptrdiff_t b, ptrdiff_t ci,
                  ptrdiff_t y, ptrdiff_t xx, ptrdiff_t m, ptrdiff_t q)
{
    const ptrdiff_t r = y * s->sh - s->pt + m * s->dh, c = xx * s->sw - s->pl + q * s->dw;
    if (r < 0 || r >= s->h_in || c < 0 || c >= s->w_in) return 0;
    return x[((b * s->c_in + ci) * s->h_in + r) * s->w_in + c];
}

static void check_conv(const char *name, mg_conv_shape s, int nt)
{
    const ptrdiff_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;
    const size_t nx = (size_t)(s.batch * s.c_in * s.h_in * s.w_in);
    const size_t nw = (size_t)(s.c_out * cig * s.kh * s.kw);
    const size_t ny = (size_t)(s.batch * s.c_out * s.h_out * s.w_out);
    float *x = random_floats(nx), *w = random_floats(nw), *bias = random_floats((size_t)s.c_out);
    float *dy = random_floats(ny);
    float *y = (float *)malloc(ny * sizeof(float)), *dw = (float *)malloc(nw * sizeof(float));
    double *ywant = (double *)calloc(ny, sizeof(double));
    double *dwwant = (double *)calloc(nw, sizeof(double));
    for (ptrdiff_t b = 0; b < s.batch; b++)
        for (ptrdiff_t co = 0; co < s.c_out; co++) {
            const ptrdiff_t g = co / cog;
            for (ptrdiff_t oy = 0; oy < s.h_out; oy++)
                for (ptrdiff_t ox = 0; ox < s.w_out; ox++) {
                    const size_t yi = (size_t)(((b * s.c_out + co) * s.h_out + oy) * s.w_out + ox);
                    double sum = bias[co];
                    for (ptrdiff_t l = 0; l < cig; l++)
                        for (ptrdiff_t m = 0; m < s.kh; m++)
                            for (ptrdiff_t q = 0; q < s.kw; q++) {
                                const size_t wi = (size_t)(((co * cig + l) * s.kh + m) * s.kw + q);
                                const double v = tap(&s, x, b, g * cig + l, oy, ox, m, q);
                                sum += w[wi] * v;
                                dwwant[wi] += dy[yi] * v;
                            }
                    ywant[yi] = sum;
                }
        }
    char what[112];
    int calls = DIRECT_CALLS;
    int st = mg_conv2d_forward_f32(&s, x, w, bias, y, nt);
    snprintf(what, sizeof what, "conv2d forward  %-23s threads=%d%s", name, nt,
             path_name(calls, DIRECT_CALLS));
    report(what, max_err(y, ywant, ny), 1e-5, st);
    calls = DIRECT_T_CALLS;
    st = mg_conv2d_backward_weight_f32(&s, x, dy, dw, nt);
    snprintf(what, sizeof what, "conv2d weight g %-23s threads=%d%s", name, nt,
             path_name(calls, DIRECT_T_CALLS));
    report(what, max_err(dw, dwwant, nw), 1e-4, st);
    free(x);
    free(w);
    free(bias);
    free(dy);
    free(y);
    free(dw);
    free(ywant);
    free(dwwant);
}

int main(void)
{
    const mg_isa best = mg_cpu_best_isa();
    printf("detected ISA: %s (OpenMP: %s, max threads %d)\n", mg_isa_name(best),
           MG_HAVE_OPENMP ? "on" : "off", mg_omp_max_threads());
    /* mg_aligned_alloc itself: alignment, and that mg_aligned_free takes it back */
    for (size_t size = 64; size <= (1u << 20); size *= 4) {
        void *p = mg_aligned_alloc(64, size);
        if (!p || ((uintptr_t)p & 63)) {
            printf("mg_aligned_alloc(64, %u) = %p  <-- FAIL\n", (unsigned)size, p);
            failures++;
        }
        if (p) memset(p, 0xab, size);
        mg_aligned_free(p);
    }
    for (int level = 0; level <= (int)best; level++) {
        printf("isa %s:\n", mg_isa_name(mg_cpu_set_isa(level)));
        for (int nt = 1; nt <= 2; nt++) {
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) check_gemm(37, 53, 71, ta, tb, 0.0f, nt);
            check_gemm(130, 67, 300, 0, 1, 1.0f, nt);
            check_gemm(1, 200, 9, 1, 0, 0.0f, nt);
            /* 144 taps, w_out a multiple of the tile: the direct path */
            check_conv("16->32 3x3 p1", conv_shape(2, 16, 16, 16, 32, 3, 1, 1, 1, 1), nt);
            check_conv("3->8 5x5 s2 p2 batch 3", conv_shape(3, 3, 13, 11, 8, 5, 2, 2, 1, 1), nt);
            /* few taps per group: im2col */
            check_conv("8->8 3x3 d2 p2 groups 4", conv_shape(2, 8, 9, 10, 8, 3, 1, 2, 2, 4), nt);
            check_conv("3->8 3x3 p1 batch 5", conv_shape(5, 3, 7, 7, 8, 3, 1, 1, 1, 1), nt);
            /* stride past the kernel: the compacted input */
            check_conv("4->6 1x1 s3", conv_shape(2, 4, 7, 8, 6, 1, 3, 0, 1, 1), nt);
        }
    }
    mg_cpu_set_isa(-1);
    printf(failures ? "FAILED: %d check(s)\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
