/* The filter layout every binary GEMM kernel reads (see bgemm.h). */
#include "bgemm.h"

size_t kb_packed_filter_words(int block, int channels, int depth) {
  const size_t blocks = (size_t)(channels + block - 1) / (size_t)block;
  return blocks * (size_t)depth * (size_t)block;
}

void kb_pack_filters(int block, const uint64_t *filters, int channels, int depth,
                     uint64_t *packed) {
  const int blocks = (channels + block - 1) / block;
  for (int b = 0; b < blocks; ++b)
    for (int k = 0; k < depth; ++k)
      for (int j = 0; j < block; ++j) {
        const int channel = b * block + j;
        *packed++ = channel < channels ? filters[(size_t)channel * depth + k] : 0;
      }
}
