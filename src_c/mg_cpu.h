/* mg_cpu.h -- the one CPU dispatch of every kernel family.
 *
 * Each family compiles its vector code for three instruction sets and asks mg_cpu_isa()
 * at every call which one to run. The choice lives in one place (the core extension,
 * minigrad._C.core): the best the CPU supports, capped by the environment variable
 * MINIGRAD_ISA=generic|avx2|avx512 (read once) or by mg_cpu_set_isa (tests, benchmarks).
 * "generic" is the portable C path, the only one off x86. */
#ifndef MG_CPU_H
#define MG_CPU_H

typedef enum { MG_ISA_GENERIC = 0, MG_ISA_AVX2 = 1, MG_ISA_AVX512 = 2 } mg_isa;

/* The instruction set the kernels run now. */
mg_isa mg_cpu_isa(void);

/* The best instruction set this CPU supports. */
mg_isa mg_cpu_best_isa(void);

/* Cap the choice at `level` (a lower level is honoured, a higher one clipped to the
 * CPU's best); a negative level removes the cap. Returns the level now in use. Not
 * thread-safe against running kernels: call it while none runs (a GEMM packs its
 * operands for the micro-kernel of the level it started with). */
mg_isa mg_cpu_set_isa(int level);

/* "generic", "avx2" or "avx512". */
const char *mg_isa_name(mg_isa isa);

#endif /* MG_CPU_H */
