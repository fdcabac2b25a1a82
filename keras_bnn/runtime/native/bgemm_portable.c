/* The binary GEMM in portable C (see bgemm.h): correct on any x86-64 CPU, the fallback for
 * those without AVX2. Blocks of 4 channels keep 4 sums in registers per row. It is built
 * twice, and the loader picks one: with the POPCNT instruction (every x86-64 CPU since
 * 2008-2011) and without it (a library call per word). */
#include "bgemm.h"

enum { BLOCK = KB_BGEMM_BLOCK_PORTABLE };

__attribute__((target_clones("popcnt", "default"))) void kb_bgemm_portable(
    const kb_bgemm_args *a) {
  for (int b = 0; b < a->blocks; ++b) {
    const uint64_t *filters = a->filters + (size_t)b * a->depth * BLOCK;
    for (int i = 0; i < a->m; ++i) {
      const uint64_t *row = a->rows + (size_t)i * a->row_stride;
      uint32_t sum[BLOCK] = {0};
      for (int k = 0; k < a->depth; ++k)
        for (int j = 0; j < BLOCK; ++j)
          sum[j] += (uint32_t)__builtin_popcountll(row[k] ^ filters[k * BLOCK + j]);
      int32_t *acc = a->acc + (size_t)i * a->acc_stride + (size_t)b * BLOCK;
      for (int j = 0; j < BLOCK; ++j) acc[j] = (int32_t)sum[j];
    }
  }
}


__attribute__((target_clones("popcnt", "default"))) uint64_t kb_bgemm_peak_portable(
    long words) {
  uint64_t sum[BLOCK] = {0}, bits = 0x5555aaaa3333ccccULL;
  for (long k = 0; k < words; ++k) {
    for (int j = 0; j < BLOCK; ++j)
      sum[j] += (uint64_t)__builtin_popcountll(bits ^ (0x0123456789abcdefULL * (j + 1)));
    __asm__("" : "+r"(bits));
  }
  return sum[0] + sum[1] + sum[2] + sum[3];
}
