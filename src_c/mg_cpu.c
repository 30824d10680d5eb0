/* mg_cpu.c -- the CPU dispatch (mg_cpu.h). Compiled into the core extension only, so
 * every family sees one choice and one cap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "mg_cpu.h"

static const char *const ISA_NAMES[] = {"generic", "avx2", "avx512"};

const char *mg_isa_name(mg_isa isa) { return ISA_NAMES[isa]; }

/* ---- x86 feature detection: CPUID and XGETBV, read directly ----
 * Not __builtin_cpu_supports: under clang-cl it needs compiler-rt's builtins library,
 * which an MSVC link does not bring. The same checks run on every x86 compiler, so the
 * Linux builds exercise the logic the Windows wheel relies on; only the two primitives
 * differ: <cpuid.h> and inline asm on GCC/Clang, <intrin.h> on MSVC-compatible ones. */
#if MG_X86
#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}

/* clang-cl's _xgetbv may require the "xsave" target feature (LLVM's BuiltinsX86.def
 * lists it so; clang 14 does not insist): the attribute costs nothing either way */
#if defined(__clang__)
__attribute__((target("xsave")))
#endif
static uint64_t xgetbv0(void)
{
    return _xgetbv(0);
}
#else
#include <cpuid.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi; /* "xgetbv" by name: _xgetbv would need -mxsave */
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

enum { EAX, EBX, ECX, EDX };
#define BIT(r, n) (((r) >> (n)) & 1u)

/* The kernels' AVX2 code is compiled for "avx2,fma", their AVX-512 code for
 * "avx512f,avx512vl,avx512dq,fma": each needs those CPUID bits and the OS saving the
 * registers it uses (XCR0). */
mg_isa mg_cpu_best_isa(void)
{
    unsigned r[4];
    cpuid(0, 0, r);
    if (r[EAX] < 7) return MG_ISA_GENERIC; /* no leaf 7, so no AVX2 */
    cpuid(1, 0, r);
    const int fma = BIT(r[ECX], 12), osxsave = BIT(r[ECX], 27), avx = BIT(r[ECX], 28);
    /* xgetbv faults unless the OS has enabled XSAVE (OSXSAVE): checked first */
    if (!osxsave || !avx || !fma) return MG_ISA_GENERIC;
    const uint64_t xcr0 = xgetbv0();
    const int ymm = (xcr0 & 0x06) == 0x06; /* XMM (bit 1) and YMM (bit 2) state */
    const int zmm = (xcr0 & 0xe0) == 0xe0; /* opmask (5), ZMM 0-15 (6), ZMM 16-31 (7) */
    cpuid(7, 0, r);
    const int avx2 = BIT(r[EBX], 5);
    const int avx512 = BIT(r[EBX], 16) && BIT(r[EBX], 17) && BIT(r[EBX], 31); /* F DQ VL */
    if (avx512 && ymm && zmm) return MG_ISA_AVX512;
    if (avx2 && ymm) return MG_ISA_AVX2;
    return MG_ISA_GENERIC;
}
#else
mg_isa mg_cpu_best_isa(void) { return MG_ISA_GENERIC; }
#endif

/* -2: not decided yet; -1: no cap; else the cap. Set before any kernel runs (the first
 * call comes from the core module's import, under the GIL), so reads need no lock. */
static int isa_cap = -2;
static mg_isa isa_best = MG_ISA_GENERIC;

static void decide(void)
{
    isa_best = mg_cpu_best_isa();
    isa_cap = -1;
    const char *env = getenv("MINIGRAD_ISA");
    for (int i = 0; env && i < 3; i++)
        if (strcmp(env, ISA_NAMES[i]) == 0) isa_cap = i;
}

mg_isa mg_cpu_isa(void)
{
    if (isa_cap == -2) decide();
    return isa_cap >= 0 && isa_cap < (int)isa_best ? (mg_isa)isa_cap : isa_best;
}

mg_isa mg_cpu_set_isa(int level)
{
    if (isa_cap == -2) decide();
    isa_cap = level < 0 ? -1 : level;
    return mg_cpu_isa();
}
