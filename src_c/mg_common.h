/* Shared by every kernel family: OpenMP shims so the same source builds serially. */
#ifndef MG_COMMON_H
#define MG_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* MG_COMMON_H */
