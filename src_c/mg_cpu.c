/* mg_cpu.c -- the CPU dispatch (mg_cpu.h). Compiled into the core extension only, so
 * every family sees one choice and one cap. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "mg_cpu.h"

static const char *const ISA_NAMES[] = {"generic", "avx2", "avx512"};

const char *mg_isa_name(mg_isa isa) { return ISA_NAMES[isa]; }

mg_isa mg_cpu_best_isa(void)
{
#if MG_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        return MG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MG_ISA_AVX2;
#endif
    return MG_ISA_GENERIC;
}

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
