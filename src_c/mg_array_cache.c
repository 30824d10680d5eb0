/* mg_array_cache.c -- the caching NumPy memory handler (see mg_array_cache.h).
 *
 * Every buffer this handler gives out has a 16-byte header in front (malloc's own
 * alignment is kept): the buffer's capacity, so that free and realloc know the block
 * whatever size NumPy passes them. Cacheable capacities are whole pages. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/ndarraytypes.h>

#include "mg_array_cache.h"

#define HEADER 16
#define PAGE ((size_t)4096)

static PyThread_type_lock lock; /* NumPy may free without the GIL held */
static struct {
    void *base[MG_CACHE_SLOTS]; /* oldest first */
    size_t size[MG_CACHE_SLOTS];
    size_t n;
} kept;
static mg_cache_stats stats;

static inline size_t capacity_of(const void *p) { return *(const size_t *)((const char *)p - HEADER); }

static inline void *user_ptr(void *base, size_t capacity)
{
    *(size_t *)base = capacity;
    return (char *)base + HEADER;
}

/* Under the lock: the capacity a request of `size` bytes gets (itself when it is below
 * the cacheable size or caching is off, so that a sanitizer build with the cache off
 * sees every array's true end; else whole pages), and a kept block of exactly that
 * capacity, the newest first, or NULL. 0 in *cap when the header would overflow. */
static void *take(size_t size, size_t *cap)
{
    void *base = NULL;
    *cap = size > SIZE_MAX - HEADER ? 0 : size;
    if (size < MG_CACHE_MIN_BYTES) return NULL; /* malloc's bins: no lock needed */
    PyThread_acquire_lock(lock, WAIT_LOCK);
    if (stats.limit > 0) {
        *cap = size > SIZE_MAX - PAGE - HEADER ? 0 : (size + PAGE - 1) / PAGE * PAGE;
        for (size_t i = kept.n; *cap && i-- > 0;) {
            if (kept.size[i] != *cap) continue;
            base = kept.base[i];
            memmove(kept.base + i, kept.base + i + 1, (kept.n - i - 1) * sizeof(void *));
            memmove(kept.size + i, kept.size + i + 1, (kept.n - i - 1) * sizeof(size_t));
            kept.n--;
            stats.cached_bytes -= *cap;
            break;
        }
        if (base) stats.hits++;
        else stats.misses++;
    }
    PyThread_release_lock(lock);
    return base;
}

/* Drop the oldest blocks until `room` more bytes and one more slot fit (room = 0 and
 * a zero limit empty the cache); the dropped blocks go to `out`, freed by the caller
 * outside the lock. Returns how many. */
static size_t evict_locked(size_t room, void **out)
{
    size_t drop = 0, freed = 0;
    while (drop < kept.n && (stats.cached_bytes - freed + room > stats.limit ||
                             kept.n - drop >= MG_CACHE_SLOTS || stats.limit == 0))
        freed += kept.size[drop], out[drop] = kept.base[drop], drop++;
    memmove(kept.base, kept.base + drop, (kept.n - drop) * sizeof(void *));
    memmove(kept.size, kept.size + drop, (kept.n - drop) * sizeof(size_t));
    kept.n -= drop;
    stats.cached_bytes -= freed;
    return drop;
}

/* ---- the four functions NumPy calls ----------------------------------------------- */

static void *cache_malloc(void *ctx, size_t size)
{
    (void)ctx;
    size_t cap;
    void *base = take(size, &cap);
    if (cap == 0 && size != 0) return NULL;
    if (!base) base = malloc(cap + HEADER);
    return base ? user_ptr(base, cap) : NULL;
}

static void *cache_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    if (elsize != 0 && nelem > SIZE_MAX / elsize) return NULL;
    size_t size = nelem * elsize, cap;
    void *base = take(size, &cap);
    if (cap == 0 && size != 0) return NULL;
    if (base) {
        memset((char *)base + HEADER, 0, size);
        return user_ptr(base, cap);
    }
    /* a new block: calloc's zero pages cost nothing until touched */
    base = calloc(1, cap + HEADER);
    return base ? user_ptr(base, cap) : NULL;
}

static void cache_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx, (void)size; /* the header knows the capacity */
    if (!ptr) return;
    void *base = (char *)ptr - HEADER;
    size_t cap = capacity_of(ptr);
    if (cap < MG_CACHE_MIN_BYTES) {
        free(base);
        return;
    }
    void *dropped[MG_CACHE_SLOTS];
    size_t n_dropped = 0;
    int keep = 0;
    PyThread_acquire_lock(lock, WAIT_LOCK);
    if (cap <= stats.limit) {
        n_dropped = evict_locked(cap, dropped);
        kept.base[kept.n] = base;
        kept.size[kept.n] = cap;
        kept.n++;
        stats.cached_bytes += cap;
        keep = 1;
    }
    PyThread_release_lock(lock);
    for (size_t i = 0; i < n_dropped; i++) free(dropped[i]);
    if (!keep) free(base);
}

static void *cache_realloc(void *ctx, void *ptr, size_t new_size)
{
    if (!ptr) return cache_malloc(ctx, new_size);
    size_t old_cap = capacity_of(ptr);
    if (new_size <= old_cap && new_size >= old_cap / 2) return ptr; /* fits, little waste */
    void *q = cache_malloc(ctx, new_size);
    if (!q) return NULL; /* realloc's contract: the old block stays valid */
    memcpy(q, ptr, old_cap < new_size ? old_cap : new_size);
    cache_free(ctx, ptr, old_cap);
    return q;
}

static PyDataMem_Handler handler = {
    "minigrad_array_cache",
    1,
    {NULL, cache_malloc, cache_calloc, cache_realloc, cache_free},
};

void *mg_array_cache_handler(void) { return &handler; }

int mg_array_cache_init(size_t limit)
{
    if (!lock) lock = PyThread_allocate_lock();
    if (!lock) return -1;
    stats.limit = limit;
    return 0;
}

void mg_array_cache_hold_lock(int hold)
{
    if (hold) PyThread_acquire_lock(lock, WAIT_LOCK);
    else PyThread_release_lock(lock);
}

void mg_array_cache_after_fork(void)
{
    /* a thread of the parent may have held the lock when it forked: a new one (the old
     * is left as is; freeing a held lock is not allowed) */
    PyThread_type_lock fresh = PyThread_allocate_lock();
    if (fresh) lock = fresh;
}

void mg_array_cache_set_limit(size_t limit)
{
    void *dropped[MG_CACHE_SLOTS];
    PyThread_acquire_lock(lock, WAIT_LOCK);
    stats.limit = limit;
    size_t n = evict_locked(0, dropped);
    PyThread_release_lock(lock);
    for (size_t i = 0; i < n; i++) free(dropped[i]);
}

mg_cache_stats mg_array_cache_stats(void)
{
    PyThread_acquire_lock(lock, WAIT_LOCK);
    mg_cache_stats s = stats;
    s.cached_blocks = kept.n;
    PyThread_release_lock(lock);
    return s;
}
