/* Content fingerprint of an array's bytes, for the tape's saved-array guard.
 *
 * A version counter sees every in-place op made through a Tensor, but not a write
 * through a NumPy view of its array (t.numpy()[...] = 0).  The ops whose backward
 * runs a C kernel on saved inputs (convolution, Lp and weighted pooling, locally
 * connected and tiled layers) therefore also fingerprint what they save at forward
 * time and compare again in backward.  A change of one 8-byte word always changes
 * the fingerprint; several changes leave it equal only if their values cancel in
 * the 64-bit mixing below (not a cryptographic hash: it guards against mistakes,
 * not against an adversary).
 *
 * The bytes are cut into blocks of MG_FP_BLOCK words; each block is hashed with
 * eight lanes of XXH3's multiply-accumulate (see mg_fp_block), seeded with the
 * block's index, and the block hashes are summed.  Integer addition is
 * associative, so the result does not depend on how OpenMP splits the blocks
 * among threads.
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

/* Hash of block b: the n_words words at w (n_words <= MG_FP_BLOCK).
 *
 * The accumulation of XXH3: each word w, xor-ed with a key, contributes the product of
 * its two 32-bit halves to one lane and itself to the neighbouring lane, so a change
 * of any word changes a lane (even where a half is zero and the product cannot
 * change).  One 32x32->64 multiply per word, which SSE2 does two at a time
 * (pmuludq): the loop vectorizes and runs at memory speed. */
static uint64_t mg_fp_block(const unsigned char *w, size_t n_words, uint64_t b)
{
    static const uint64_t key[8] = {
        0xbe4ba423396cfeb8ULL, 0x1cad21f72c81017cULL, 0xdb979083e96dd4deULL,
        0x1f67b3b7a4a44072ULL, 0x78e5c0cc4ee679cbULL, 0x2172ffcc7dd05a82ULL,
        0x8e2443f7744608b8ULL, 0x4c263a81e69035e0ULL,
    };
    uint64_t acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = (b + 1) * MG_FP_PRIME3 + (uint64_t)k * MG_FP_PRIME1;
    size_t i = 0;
    for (; i + 8 <= n_words; i += 8) {
        uint64_t x[8];
        memcpy(x, w + 8 * i, sizeof x); /* unaligned-safe; compiles to plain loads */
        for (int k = 0; k < 8; k++) {
            uint64_t kx = x[k] ^ key[k];
            acc[k ^ 1] += x[k];
            acc[k] += (kx & 0xffffffffULL) * (kx >> 32);
        }
    }
    for (; i < n_words; i++) {
        uint64_t x;
        memcpy(&x, w + 8 * i, sizeof x);
        acc[0] = mg_fp_round(acc[0], x);
    }
    uint64_t h = n_words * MG_FP_PRIME1;
    for (int k = 0; k < 8; k++)
        h = mg_fp_round(h, acc[k]);
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
