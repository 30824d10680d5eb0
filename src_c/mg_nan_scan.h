/* mg_nan_scan.h -- one chunk of the NaN scan, written once: mg_nan.h includes it per
 * (element type, instruction set) after defining NS_NAME, NS_T and NS_TARGET.
 * x != x is true only for NaN; OR-reducing it (no early exit) lets the compiler
 * vectorize the loop, and a clean array is the common case anyway. */
NS_TARGET static int NS_NAME(const NS_T *a, ptrdiff_t n)
{
    int found = 0;
    for (ptrdiff_t i = 0; i < n; i++) found |= (a[i] != a[i]);
    return found;
}

#undef NS_NAME
#undef NS_T
#undef NS_TARGET
