/* The kernels of one instruction set: the binary GEMM (bgemm.h) and the two loops over
 * every value that sit around it, packing floats into bits and turning counts into floats.
 * The runtime picks the best set the CPU has at run time, so that one build of the
 * library runs on every x86-64 CPU, or the set named on purpose (to measure it). */
#ifndef KERAS_BNN_KERNEL_H
#define KERAS_BNN_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "bgemm.h"

typedef struct kb_kernel {
  const char *name; /* "avx512", "avx2" or "portable" */
  int block;        /* output channels per packed filter block of `bgemm` */
  int tile;         /* rows of bgemm's register tile */
  void (*bgemm)(const kb_bgemm_args *args);
  uint64_t (*bgemm_peak)(long words);
  /* words[j] bit i = values[32 j + i] < 0, for `count` values (0 bits past them). */
  void (*pack_floats)(const float *values, int count, uint32_t *words);
  /* The same for int8 values, with bit = value < zero_point. */
  void (*pack_int8s)(const int8_t *values, int count, int32_t zero_point, uint32_t *words);
  /* out[c] = float(clamp(2 * counts[c] + offset, lo, hi)) * multiplier[c] + bias[c], with
   * a separate multiply and add (LCE's float output transform), for c < count. */
  void (*floats_from_counts)(const int32_t *counts, int count, int32_t offset, int32_t lo,
                             int32_t hi, const float *multiplier, const float *bias,
                             float *out);
  /* The same, then rounded half away from zero and saturated to int8 (NaN to 0). */
  void (*int8s_from_counts)(const int32_t *counts, int count, int32_t offset, int32_t lo,
                            int32_t hi, const float *multiplier, const float *bias,
                            int8_t *out);
} kb_kernel;

extern const kb_kernel kb_kernel_avx512; /* AVX-512 F and VPOPCNTDQ */
extern const kb_kernel kb_kernel_avx2;
extern const kb_kernel kb_kernel_portable;

/* The set called `name`: "auto" (the best this CPU runs), "avx512", "avx2" or "portable".
 * NULL, with the reason written to `why`, for an unknown name or a set this CPU cannot
 * run. */
const kb_kernel *kb_kernel_named(const char *name, char *why, size_t why_size);

/* The loops of each set, defined in pack_bits.c and output_transform.c. */
void kb_pack_floats_avx512(const float *values, int count, uint32_t *words);
void kb_pack_floats_avx2(const float *values, int count, uint32_t *words);
void kb_pack_floats_portable(const float *values, int count, uint32_t *words);
void kb_pack_int8s_avx2(const int8_t *values, int count, int32_t zero_point, uint32_t *words);
void kb_pack_int8s_portable(const int8_t *values, int count, int32_t zero_point,
                            uint32_t *words);
void kb_floats_from_counts_avx512(const int32_t *counts, int count, int32_t offset,
                                  int32_t lo, int32_t hi, const float *multiplier,
                                  const float *bias, float *out);
void kb_floats_from_counts_avx2(const int32_t *counts, int count, int32_t offset,
                                int32_t lo, int32_t hi, const float *multiplier,
                                const float *bias, float *out);
void kb_floats_from_counts_portable(const int32_t *counts, int count, int32_t offset,
                                    int32_t lo, int32_t hi, const float *multiplier,
                                    const float *bias, float *out);
void kb_int8s_from_counts_avx512(const int32_t *counts, int count, int32_t offset,
                                 int32_t lo, int32_t hi, const float *multiplier,
                                 const float *bias, int8_t *out);
void kb_int8s_from_counts_avx2(const int32_t *counts, int count, int32_t offset, int32_t lo,
                               int32_t hi, const float *multiplier, const float *bias,
                               int8_t *out);
void kb_int8s_from_counts_portable(const int32_t *counts, int count, int32_t offset,
                                   int32_t lo, int32_t hi, const float *multiplier,
                                   const float *bias, int8_t *out);

#endif /* KERAS_BNN_KERNEL_H */
