/* mg_array_cache.h -- a NumPy memory handler (NEP 49) that keeps freed array buffers
 * for reuse, so that a training loop's arrays stop costing a page fault per 4 KiB.
 *
 * Why: a training step frees its activations and gradients at the end of backward;
 * glibc then returns the top of its heap to the kernel (its trim threshold is a few
 * MB), and the next step's arrays fault every page in again, zero-filled by the
 * kernel. In benchmarks/bench_train.py that was half of the conv autoencoder's step.
 * PyTorch's GPU caching allocator keeps freed blocks for the same reason.
 *
 * The handler is installed only while minigrad runs an op on an input of 16 KiB or
 * more, a backward pass or an optimizer step (minigrad/memory.py), so a user's own NumPy
 * arrays keep NumPy's allocator. Buffers below MG_CACHE_MIN_BYTES go straight to malloc/free (malloc's
 * bins keep those without faults); larger ones are rounded up to whole pages and, when
 * freed, kept in at most MG_CACHE_SLOTS slots of at most `limit` bytes in all (the
 * oldest are returned to malloc first). A request takes a kept buffer of exactly its
 * rounded size: a training loop asks for the same sizes every step. */
#ifndef MG_ARRAY_CACHE_H
#define MG_ARRAY_CACHE_H

#include <stddef.h>

#define MG_CACHE_MIN_BYTES ((size_t)64 * 1024)
#define MG_CACHE_SLOTS 128

typedef struct {
    size_t limit;        /* most bytes kept; 0 keeps nothing */
    size_t cached_bytes; /* bytes kept now */
    size_t cached_blocks;
    size_t hits;   /* requests served from the cache */
    size_t misses; /* requests of cacheable size that were not */
} mg_cache_stats;

/* The PyDataMem_Handler NumPy calls (a pointer to its struct, for the capsule). */
void *mg_array_cache_handler(void);
/* 0 on success, -1 if the lock could not be made (call once, with the GIL). */
int mg_array_cache_init(size_t limit);
void mg_array_cache_set_limit(size_t limit); /* frees what no longer fits */
void mg_array_cache_after_fork(void);        /* in a forked child, with the GIL */
void mg_array_cache_hold_lock(int hold);     /* tests: a fork while the lock is held */
mg_cache_stats mg_array_cache_stats(void);

#endif /* MG_ARRAY_CACHE_H */
