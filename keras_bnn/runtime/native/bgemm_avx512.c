/* The binary GEMM with AVX-512 and VPOPCNTDQ (Ice Lake, Zen 4 and later; see bgemm.h).
 *
 * A tile of up to 6 rows x 32 channels keeps 24 vectors of eight 64-bit sums in registers:
 * for each word k, the 4 vectors of the block's k-th filter words are XORed with row i's
 * k-th word broadcast to all lanes, then VPOPCNTQ counts the bits. Compiled for these
 * instructions only here; cpu.c calls it only on a CPU that has them. */
#pragma GCC target("avx512f,avx512vpopcntdq")

#include <immintrin.h>

#include "bgemm.h"

enum { ROWS = KB_BGEMM_TILE_AVX512, VECTORS = 4, BLOCK = KB_BGEMM_BLOCK_AVX512 };
_Static_assert(BLOCK == 8 * VECTORS, "a block is 4 vectors of 8 channels");

static inline __attribute__((always_inline)) void tile(const kb_bgemm_args *a,
                                                       const uint64_t *filters, int first,
                                                       int rows, int32_t *acc) {
  __m512i sum[ROWS][VECTORS];
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < VECTORS; ++v) sum[r][v] = _mm512_setzero_si512();
  const uint64_t *x = a->rows + (size_t)first * a->row_stride;
  for (int k = 0; k < a->depth; ++k) {
    __m512i w[VECTORS];
    for (int v = 0; v < VECTORS; ++v) w[v] = _mm512_load_si512(filters + k * BLOCK + v * 8);
    for (int r = 0; r < rows; ++r) {
      const __m512i bits = _mm512_set1_epi64((long long)x[r * a->row_stride + k]);
      for (int v = 0; v < VECTORS; ++v)
        sum[r][v] = _mm512_add_epi64(sum[r][v],
                                     _mm512_popcnt_epi64(_mm512_xor_si512(w[v], bits)));
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < VECTORS; ++v)
      _mm256_storeu_si256((__m256i *)(acc + (size_t)(first + r) * a->acc_stride + v * 8),
                          _mm512_cvtepi64_epi32(sum[r][v]));
}

void kb_bgemm_avx512(const kb_bgemm_args *a) {
  for (int b = 0; b < a->blocks; ++b) {
    const uint64_t *filters = a->filters + (size_t)b * a->depth * BLOCK;
    int32_t *acc = a->acc + (size_t)b * BLOCK;
    int i = 0;
    for (; i + ROWS <= a->m; i += ROWS) tile(a, filters, i, ROWS, acc);
    switch (a->m - i) {
      case 5: tile(a, filters, i, 5, acc); break;
      case 4: tile(a, filters, i, 4, acc); break;
      case 3: tile(a, filters, i, 3, acc); break;
      case 2: tile(a, filters, i, 2, acc); break;
      case 1: tile(a, filters, i, 1, acc); break;
      default: break;
    }
  }
}


uint64_t kb_bgemm_peak_avx512(long words) {
  __m512i sum[ROWS][VECTORS], w[VECTORS], bits[ROWS];
  for (int v = 0; v < VECTORS; ++v) w[v] = _mm512_set1_epi64(0x0123456789abcdefLL * (v + 1));
  for (int r = 0; r < ROWS; ++r) {
    bits[r] = _mm512_set1_epi64(0x5555aaaa3333ccccLL + r);
    for (int v = 0; v < VECTORS; ++v) sum[r][v] = _mm512_setzero_si512();
  }
  for (long k = 0; k < words; ++k) {
    for (int r = 0; r < ROWS; ++r) {
      for (int v = 0; v < VECTORS; ++v)
        sum[r][v] = _mm512_add_epi64(sum[r][v],
                                     _mm512_popcnt_epi64(_mm512_xor_si512(w[v], bits[r])));
      __asm__("" : "+v"(bits[r])); /* a new word each step, as far as the compiler knows */
    }
  }
  __m512i total = _mm512_setzero_si512();
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < VECTORS; ++v) total = _mm512_add_epi64(total, sum[r][v]);
  return (uint64_t)_mm512_reduce_add_epi64(total);
}
