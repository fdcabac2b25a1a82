/* Packing values into sign bits, LCE's LceQuantize, 32 values per word, bit i for value i:
 * float32 bit = value < 0, an ordered comparison (so -0.0 and NaN give 0); int8 bit =
 * value < zero point. The vector versions compare 8, 16 or 32 values at once and gather
 * the results as a mask; a row's last, partial word is packed by the portable loop. */
#include <immintrin.h>

#include "kernel.h"

void kb_pack_floats_portable(const float *values, int count, uint32_t *words) {
  for (int begin = 0; begin < count; begin += 32) {
    const int n = count - begin < 32 ? count - begin : 32;
    uint32_t bits = 0;
    for (int i = 0; i < n; ++i) bits |= (uint32_t)(values[begin + i] < 0.0f) << i;
    *words++ = bits;
  }
}

__attribute__((target("avx2"))) void kb_pack_floats_avx2(const float *values, int count,
                                                         uint32_t *words) {
  const __m256 zero = _mm256_setzero_ps();
  int begin = 0;
  for (; begin + 32 <= count; begin += 32) {
    uint32_t bits = 0;
    for (int q = 0; q < 4; ++q) {
      const __m256 x = _mm256_loadu_ps(values + begin + 8 * q);
      bits |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ)) << (8 * q);
    }
    *words++ = bits;
  }
  kb_pack_floats_portable(values + begin, count - begin, words);
}

__attribute__((target("avx512f"))) void kb_pack_floats_avx512(const float *values, int count,
                                                              uint32_t *words) {
  const __m512 zero = _mm512_setzero_ps();
  int begin = 0;
  for (; begin + 32 <= count; begin += 32) {
    const __mmask16 low = _mm512_cmp_ps_mask(_mm512_loadu_ps(values + begin), zero, _CMP_LT_OQ);
    const __mmask16 high =
        _mm512_cmp_ps_mask(_mm512_loadu_ps(values + begin + 16), zero, _CMP_LT_OQ);
    *words++ = (uint32_t)low | (uint32_t)high << 16;
  }
  kb_pack_floats_portable(values + begin, count - begin, words);
}

void kb_pack_int8s_portable(const int8_t *values, int count, int32_t zero_point,
                            uint32_t *words) {
  for (int begin = 0; begin < count; begin += 32) {
    const int n = count - begin < 32 ? count - begin : 32;
    uint32_t bits = 0;
    for (int i = 0; i < n; ++i) bits |= (uint32_t)((int32_t)values[begin + i] < zero_point) << i;
    *words++ = bits;
  }
}

/* For every CPU with AVX2, AVX-512 ones included: 32 int8 compared at once. A zero point
 * outside int8's range (all ones above it, all zeros below) is left to the portable loop. */
__attribute__((target("avx2"))) void kb_pack_int8s_avx2(const int8_t *values, int count,
                                                        int32_t zero_point, uint32_t *words) {
  int begin = 0;
  if (zero_point >= -128 && zero_point <= 127) {
    const __m256i threshold = _mm256_set1_epi8((char)zero_point);
    for (; begin + 32 <= count; begin += 32) {
      const __m256i x = _mm256_loadu_si256((const __m256i *)(values + begin));
      *words++ = (uint32_t)_mm256_movemask_epi8(_mm256_cmpgt_epi8(threshold, x));
    }
  }
  kb_pack_int8s_portable(values + begin, count - begin, zero_point, words);
}
