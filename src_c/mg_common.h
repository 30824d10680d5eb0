/* mg_common.h -- what every kernel family shares: the status codes the C functions
 * return, the OpenMP shims that let the same source build serially, and the
 * instruction-set attributes the per-ISA code is compiled with. */
#ifndef MG_COMMON_H
#define MG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef _WIN32
#include <malloc.h> /* _aligned_malloc, _aligned_free */
#endif

/* ---- status codes ----------------------------------------------------------------
 * Every C entry point that can fail returns an int built from these flags (0 = success).
 * They are bits so that the threads of a parallel region can OR-reduce what they met.
 * The Cython wrappers turn them into exceptions in one place (checks.status). */
enum {
    MG_OK = 0,
    MG_ENOMEM = 1, /* a workspace could not be allocated; nothing useful was written */
    MG_EINDEX = 2, /* an index (pooling / unpooling) was outside its plane; skipped */
};

/* ---- OpenMP ---------------------------------------------------------------------- */
#ifdef _OPENMP
#include <omp.h>
#define MG_HAVE_OPENMP 1
static inline int mg_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int mg_omp_thread_id(void) { return omp_get_thread_num(); }
#else
#define MG_HAVE_OPENMP 0
static inline int mg_omp_max_threads(void) { return 1; }
static inline int mg_omp_thread_id(void) { return 0; }
#endif

#ifndef MINIGRAD_CFLAGS
#define MINIGRAD_CFLAGS "unknown"
#endif

static inline const char *mg_build_cflags(void) { return MINIGRAD_CFLAGS; }

/* ---- aligned workspaces ----------------------------------------------------------
 * C11's aligned_alloc is not in the Windows C runtimes (neither the UCRT that MSVC and
 * clang-cl link nor mingw's msvcrt): there it is _aligned_malloc, whose blocks must be
 * released with _aligned_free -- free() on one corrupts the heap. So every aligned
 * buffer comes from mg_aligned_alloc and goes back through mg_aligned_free, never
 * free(). `size` must be a multiple of `align` (C11 requires it; the callers round). */
static inline void *mg_aligned_alloc(size_t align, size_t size)
{
#ifdef _WIN32
    return _aligned_malloc(size, align);
#else
    return aligned_alloc(align, size);
#endif
}

static inline void mg_aligned_free(void *p)
{
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- instruction sets ------------------------------------------------------------
 * Code for wider vectors is compiled per function with a `target` attribute (never
 * -march=native), and mg_cpu_isa() (mg_cpu.h) picks which copy runs. GCC and Clang both
 * have the attribute, and so does clang-cl, which defines __clang__ (and __x86_64__,
 * _M_X64) but not __GNUC__; MSVC's cl has no GCC vector extensions at all. */
#if (defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)) && \
    (defined(__GNUC__) || defined(__clang__))
#define MG_X86 1
#define MG_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MG_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#else
#define MG_X86 0
#endif

#endif /* MG_COMMON_H */
