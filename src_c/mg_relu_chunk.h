/* mg_relu_chunk.h -- one chunk of the rectifier, forward and backward, written once:
 * mg_relu.h includes it per (element type, instruction set) after defining RC_T,
 * RC_SUFFIX and RC_TARGET (the functions are relu_fwd_<suffix>, relu_bwd_<suffix>).
 *
 *   forward:  out = a < 0 ? 0 : a         (max(a, 0) that keeps a NaN, as PyTorch)
 *   backward: dL/da = out <= 0 ? 0 : g    (PyTorch's threshold_backward on the output)
 *
 * Plain selects, no branches: the compiler turns each loop into compare-and-blend
 * vectors of the target's width. */
#define RC_CAT(a, b) a##b
#define RC_NAME(op, suffix) RC_CAT(op, suffix)

RC_TARGET static void RC_NAME(relu_fwd_, RC_SUFFIX)(const RC_T *a, RC_T *out, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) out[i] = a[i] < 0 ? (RC_T)0 : a[i];
}

RC_TARGET static void RC_NAME(relu_bwd_, RC_SUFFIX)(const RC_T *out, const RC_T *g, RC_T *ga,
                                                    ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) ga[i] = out[i] <= 0 ? (RC_T)0 : g[i];
}

#undef RC_NAME
#undef RC_CAT
#undef RC_T
#undef RC_SUFFIX
#undef RC_TARGET
