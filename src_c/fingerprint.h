/* Content fingerprint of an array's bytes, for the tape's saved-array guard.
 *
 * A version counter sees every in-place op made through a Tensor, but not a write
 * through a NumPy view of its array (t.numpy()[...] = 0).  The ops whose backward
 * runs a C kernel on saved inputs (convolution, Lp and weighted pooling, locally
 * connected and tiled layers) therefore also fingerprint what they save at forward
 * time and compare again in backward.  Any change of any byte changes the
 * fingerprint except with probability about 2^-64.
 *
 * The bytes are cut into blocks of MG_FP_BLOCK words; each block is hashed with
 * four independent multiply-rotate lanes (the round of xxHash64, so the loop runs
 * at memory speed) seeded with the block's index, and the block hashes are summed.
 * Integer addition is associative, so the result does not depend on how OpenMP
 * splits the blocks among threads.
 */
#ifndef MG_FINGERPRINT_H
#define MG_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MG_FP_PRIME1 0x9E3779B185EBCA87ULL
#define MG_FP_PRIME2 0xC2B2AE3D27D4EB4FULL
#define MG_FP_PRIME3 0x165667B19E3779F9ULL
#define MG_FP_BLOCK 8192 /* words (64 KiB) per block */

static inline uint64_t mg_fp_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* One lane step: mix word w into accumulator acc. */
static inline uint64_t mg_fp_round(uint64_t acc, uint64_t w)
{
    acc += w * MG_FP_PRIME2;
    return mg_fp_rotl(acc, 31) * MG_FP_PRIME1;
}

/* Spread every input bit over the whole word (xxHash64's final mix). */
static inline uint64_t mg_fp_avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= MG_FP_PRIME2;
    h ^= h >> 29;
    h *= MG_FP_PRIME3;
    return h ^ (h >> 32);
}

/* Hash of block b: the n_words words at w (n_words <= MG_FP_BLOCK).  Eight lanes,
   so that eight multiply chains are in flight and the loop is not latency-bound. */
static uint64_t mg_fp_block(const unsigned char *w, size_t n_words, uint64_t b)
{
    uint64_t v[8];
    for (int k = 0; k < 8; k++)
        v[k] = (b + 1) * MG_FP_PRIME3 + (uint64_t)k * MG_FP_PRIME1;
    size_t i = 0;
    for (; i + 8 <= n_words; i += 8) {
        uint64_t x[8];
        memcpy(x, w + 8 * i, sizeof x); /* unaligned-safe; compiles to plain loads */
        for (int k = 0; k < 8; k++)
            v[k] = mg_fp_round(v[k], x[k]);
    }
    for (; i < n_words; i++) {
        uint64_t x;
        memcpy(&x, w + 8 * i, sizeof x);
        v[0] = mg_fp_round(v[0], x);
    }
    uint64_t h = n_words * MG_FP_PRIME1;
    for (int k = 0; k < 8; k++)
        h += mg_fp_rotl(v[k], 1 + 7 * k);
    return mg_fp_avalanche(h);
}

/* Fingerprint of the n_bytes bytes at data, on nt threads. */
static uint64_t mg_fingerprint(const void *data, size_t n_bytes, int nt)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t n_words = n_bytes / 8;
    ptrdiff_t n_blocks = (ptrdiff_t)((n_words + MG_FP_BLOCK - 1) / MG_FP_BLOCK);
    uint64_t sum = 0;
    #pragma omp parallel for num_threads(nt) schedule(static) reduction(+:sum)
    for (ptrdiff_t b = 0; b < n_blocks; b++) {
        size_t first = (size_t)b * MG_FP_BLOCK;
        size_t n = n_words - first < MG_FP_BLOCK ? n_words - first : MG_FP_BLOCK;
        sum += mg_fp_block(p + 8 * first, n, (uint64_t)b);
    }
    /* The last n_bytes % 8 bytes, zero-padded into one word, and the length. */
    uint64_t tail = 0;
    memcpy(&tail, p + 8 * n_words, n_bytes % 8);
    return mg_fp_avalanche(sum + mg_fp_round(n_bytes * MG_FP_PRIME3, tail));
}

#endif /* MG_FINGERPRINT_H */
