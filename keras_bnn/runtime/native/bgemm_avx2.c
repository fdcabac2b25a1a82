/* The binary GEMM with AVX2 (Haswell, Zen 1 and later; see bgemm.h).
 *
 * AVX2 has no vector popcount: each byte's bits are counted by looking both of its
 * nibbles up in a 16-entry table (VPSHUFB), and the byte counts of up to 31 words are
 * summed in bytes (at most 8 x 31 = 248) before VPSADBW widens them into 64-bit sums.
 * A tile of 4 rows x 8 channels keeps 8 vectors of byte counts in registers. Compiled for
 * AVX2 only here; cpu.c calls it only on a CPU that has it. */
#pragma GCC target("avx2")

#include <immintrin.h>

#include "bgemm.h"

enum { ROWS = KB_BGEMM_TILE_AVX2, VECTORS = 2, BLOCK = KB_BGEMM_BLOCK_AVX2, WORDS_PER_FLUSH = 31 };
_Static_assert(BLOCK == 4 * VECTORS, "a block is 2 vectors of 4 channels");

static inline __attribute__((always_inline)) void tile(const kb_bgemm_args *a,
                                                       const uint64_t *filters, int first,
                                                       int rows, int32_t *acc) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const uint64_t *x = a->rows + (size_t)first * a->row_stride;
  __m256i total[ROWS][VECTORS];
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < VECTORS; ++v) total[r][v] = _mm256_setzero_si256();
  for (int k0 = 0; k0 < a->depth; k0 += WORDS_PER_FLUSH) {
    const int k1 = k0 + WORDS_PER_FLUSH < a->depth ? k0 + WORDS_PER_FLUSH : a->depth;
    __m256i bytes[ROWS][VECTORS];
    for (int r = 0; r < rows; ++r)
      for (int v = 0; v < VECTORS; ++v) bytes[r][v] = _mm256_setzero_si256();
    for (int k = k0; k < k1; ++k) {
      __m256i w[VECTORS];
      for (int v = 0; v < VECTORS; ++v)
        w[v] = _mm256_load_si256((const __m256i *)(filters + k * BLOCK + v * 4));
      for (int r = 0; r < rows; ++r) {
        const __m256i bits = _mm256_set1_epi64x((long long)x[r * a->row_stride + k]);
        for (int v = 0; v < VECTORS; ++v) {
          const __m256i diff = _mm256_xor_si256(w[v], bits);
          const __m256i low = _mm256_shuffle_epi8(table, _mm256_and_si256(diff, nibble));
          const __m256i high = _mm256_shuffle_epi8(
              table, _mm256_and_si256(_mm256_srli_epi16(diff, 4), nibble));
          bytes[r][v] = _mm256_add_epi8(bytes[r][v], _mm256_add_epi8(low, high));
        }
      }
    }
    for (int r = 0; r < rows; ++r)
      for (int v = 0; v < VECTORS; ++v)
        total[r][v] = _mm256_add_epi64(total[r][v],
                                       _mm256_sad_epu8(bytes[r][v], _mm256_setzero_si256()));
  }
  /* the low 32 bits of each 64-bit sum, in order */
  const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < VECTORS; ++v)
      _mm_storeu_si128((__m128i *)(acc + (size_t)(first + r) * a->acc_stride + v * 4),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(total[r][v], evens)));
}

void kb_bgemm_avx2(const kb_bgemm_args *a) {
  for (int b = 0; b < a->blocks; ++b) {
    const uint64_t *filters = a->filters + (size_t)b * a->depth * BLOCK;
    int32_t *acc = a->acc + (size_t)b * BLOCK;
    int i = 0;
    for (; i + ROWS <= a->m; i += ROWS) tile(a, filters, i, ROWS, acc);
    switch (a->m - i) {
      case 3: tile(a, filters, i, 3, acc); break;
      case 2: tile(a, filters, i, 2, acc); break;
      case 1: tile(a, filters, i, 1, acc); break;
      default: break;
    }
  }
}


uint64_t kb_bgemm_peak_avx2(long words) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  __m256i total = _mm256_setzero_si256(), w[VECTORS], bits[ROWS];
  for (int v = 0; v < VECTORS; ++v) w[v] = _mm256_set1_epi64x(0x0123456789abcdefLL * (v + 1));
  for (int r = 0; r < ROWS; ++r) bits[r] = _mm256_set1_epi64x(0x5555aaaa3333ccccLL + r);
  for (long k0 = 0; k0 < words; k0 += WORDS_PER_FLUSH) {
    __m256i bytes[ROWS][VECTORS];
    for (int r = 0; r < ROWS; ++r)
      for (int v = 0; v < VECTORS; ++v) bytes[r][v] = _mm256_setzero_si256();
    const long k1 = k0 + WORDS_PER_FLUSH < words ? k0 + WORDS_PER_FLUSH : words;
    for (long k = k0; k < k1; ++k)
      for (int r = 0; r < ROWS; ++r) {
        for (int v = 0; v < VECTORS; ++v) {
          const __m256i diff = _mm256_xor_si256(w[v], bits[r]);
          const __m256i low = _mm256_shuffle_epi8(table, _mm256_and_si256(diff, nibble));
          const __m256i high = _mm256_shuffle_epi8(
              table, _mm256_and_si256(_mm256_srli_epi16(diff, 4), nibble));
          bytes[r][v] = _mm256_add_epi8(bytes[r][v], _mm256_add_epi8(low, high));
        }
        __asm__("" : "+x"(bits[r]));
      }
    for (int r = 0; r < ROWS; ++r)
      for (int v = 0; v < VECTORS; ++v)
        total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes[r][v], _mm256_setzero_si256()));
  }
  return (uint64_t)_mm256_extract_epi64(total, 0) + (uint64_t)_mm256_extract_epi64(total, 1) +
         (uint64_t)_mm256_extract_epi64(total, 2) + (uint64_t)_mm256_extract_epi64(total, 3);
}
