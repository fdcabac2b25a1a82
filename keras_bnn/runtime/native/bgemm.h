/* The binary GEMM at the heart of a binary convolution: for m rows (the receptive fields
 * of m output pixels, bits packed into 64-bit words) and a set of filters with the same
 * packing, acc[i][j] = the number of bits where row i and filter j differ,
 * sum_k popcount(row_i[k] XOR filter_j[k]). A binary dot product of D bits is
 * D - 2 * acc, which the op's output transform computes afterwards.
 *
 * Three kernels compute it, chosen at run time from what the CPU has (kernel.h): AVX-512
 * with VPOPCNTDQ, AVX2 (popcount by nibble lookup), and portable C. Each reads its filters
 * in blocks of KB_BGEMM_BLOCK_<ISA> output channels, the words of a block interleaved so
 * that the kernel loads the k-th word of all its channels at once:
 * packed[(b * depth + k) * block + j] = word k of filter b * block + j (0 past the last
 * filter). */
#ifndef KERAS_BNN_BGEMM_H
#define KERAS_BNN_BGEMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct kb_bgemm_args {
  const uint64_t *rows; /* m rows of `depth` words, `row_stride` words apart */
  size_t row_stride;
  int m;
  const uint64_t *filters; /* `blocks` packed blocks */
  int blocks;
  int depth; /* 64-bit words per row and per filter */
  int32_t *acc; /* acc[i * acc_stride + j] for j < blocks * block */
  size_t acc_stride;
} kb_bgemm_args;

enum { KB_BGEMM_BLOCK_AVX512 = 32, KB_BGEMM_BLOCK_AVX2 = 8, KB_BGEMM_BLOCK_PORTABLE = 4 };

void kb_bgemm_avx512(const kb_bgemm_args *args);
void kb_bgemm_avx2(const kb_bgemm_args *args);
void kb_bgemm_portable(const kb_bgemm_args *args);

/* The machine's peak for a kernel: its inner loop on registers alone (no loads), for
 * `words` steps of one full tile; returns a checksum so that the loop is not optimized
 * away. A step is KB_BGEMM_TILE_<ISA> rows x block channels x 64 bits. */
enum { KB_BGEMM_TILE_AVX512 = 6, KB_BGEMM_TILE_AVX2 = 4, KB_BGEMM_TILE_PORTABLE = 1 };
uint64_t kb_bgemm_peak_avx512(long words);
uint64_t kb_bgemm_peak_avx2(long words);
uint64_t kb_bgemm_peak_portable(long words);

/* 64-bit words of `channels` filters of `depth` words packed in blocks of `block`. */
size_t kb_packed_filter_words(int block, int channels, int depth);

/* Packs filter j (depth words at filters + j * depth) in blocks of `block` into `packed`. */
void kb_pack_filters(int block, const uint64_t *filters, int channels, int depth,
                     uint64_t *packed);

#endif /* KERAS_BNN_BGEMM_H */
