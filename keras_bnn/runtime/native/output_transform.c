/* LCE's output transform (see output_transform.h). This file must be compiled without
 * floating-point contraction (-ffp-contract=off): a fused multiply-add would round once
 * where LCE rounds twice. */
#include "output_transform.h"

#include <math.h>
#include <stdio.h>

#include "denormals.h"
#include "memory.h"
#include "tflite_abi.h"

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* TensorFlow Lite's int32 range of each fused activation. */
static void activation_range(int activation, int64_t *lo, int64_t *hi) {
  *lo = INT32_MIN;
  *hi = INT32_MAX;
  if (activation == KB_ACTIVATION_RELU) {
    *lo = 0;
  } else if (activation == KB_ACTIVATION_RELU6) {
    *lo = 0;
    *hi = 6;
  } else if (activation == KB_ACTIVATION_RELU_N1_TO_1) {
    *lo = -1;
    *hi = 1;
  }
}

int kb_output_transform_init(kb_output_transform *t, const kb_tensor *output, int depth,
                             const float *multiplier, const float *bias,
                             const int32_t *thresholds, char *why, size_t why_size) {
  t->type = output->type;
  if (t->type == kTfLiteInt32) {
    t->thresholds = kb_alloc((size_t)t->channels * sizeof(int64_t));
    if (t->thresholds == NULL) goto out_of_memory;
    for (int c = 0; c < t->channels; ++c) t->thresholds[c] = 2 * (int64_t)thresholds[c];
    return 0;
  }
  double scale = 1.0, zero_point = 0.0;
  if (t->type == kTfLiteInt8) {
    if (!output->quantized || !(output->scale > 0.0f) || !isfinite(output->scale)) {
      snprintf(why, why_size, "int8 output needs a positive quantization scale");
      return -1;
    }
    scale = output->scale;
    zero_point = output->zero_point;
  }
  t->multiplier = kb_alloc((size_t)t->channels * sizeof(float));
  t->bias = kb_alloc((size_t)t->channels * sizeof(float));
  if (t->multiplier == NULL || t->bias == NULL) goto out_of_memory;
  const unsigned float_mode = kb_flush_denormals(); /* as LCE computes them, at run time */
  for (int c = 0; c < t->channels; ++c) {
    const double m = multiplier[c], b = bias[c];
    t->multiplier[c] = (float)(-1 * m / scale);
    t->bias[c] = (float)((b + (double)depth * m) / scale + zero_point);
  }
  kb_restore_float_mode(float_mode);
  int64_t lo, hi;
  activation_range(t->activation, &lo, &hi);
  lo = max64(lo, -(int64_t)depth);
  hi = min64(hi, (int64_t)depth);
  t->clamp_min = (int32_t)(depth - hi);
  t->clamp_max = (int32_t)(depth - lo);
  return 0;
out_of_memory:
  kb_output_transform_free(t);
  snprintf(why, why_size, "out of memory");
  return -1;
}

void kb_output_transform_free(kb_output_transform *t) {
  kb_free(t->multiplier);
  kb_free(t->bias);
  kb_free(t->thresholds);
  t->multiplier = t->bias = NULL;
  t->thresholds = NULL;
}

/* LCE's float result of one channel: its dot product x = 2 * count + offset, clamped to
 * the activation's range, times the multiplier, plus the bias (a multiply and an add,
 * never fused). Inlined into the loops below, which the compiler vectorizes for each
 * instruction set. */
static inline __attribute__((always_inline)) float transformed(
    int32_t count, int32_t offset, int32_t lo, int32_t hi, float multiplier, float bias) {
  int32_t x = 2 * count + offset;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const float product = (float)x * multiplier;
  return product + bias;
}

static inline __attribute__((always_inline)) void floats_from_counts(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, float *out) {
  for (int c = 0; c < count; ++c) {
    out[c] = transformed(counts[c], offset, lo, hi, multiplier[c], bias[c]);
  }
}

void kb_floats_from_counts_portable(const int32_t *counts, int count, int32_t offset,
                                    int32_t lo, int32_t hi, const float *multiplier,
                                    const float *bias, float *out) {
  floats_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

__attribute__((target("avx2"))) void kb_floats_from_counts_avx2(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, float *out) {
  floats_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

__attribute__((target("avx512f"))) void kb_floats_from_counts_avx512(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, float *out) {
  floats_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

/* LCE's int8 result on x86: round half away from zero (roundf, written so that it
 * vectorizes: the truncation, plus one away from zero when the dropped fraction is at
 * least a half), to int32 with saturation and NaN to 0, then saturated to int8; since the
 * int8 range lies inside int32's, saturating the float directly is the same. */
static inline int8_t to_int8(float y) {
  const float truncated = truncf(y);
  float rounded = fabsf(y - truncated) >= 0.5f ? truncated + copysignf(1.0f, y) : truncated;
  rounded = rounded != rounded ? 0.0f : rounded;
  rounded = rounded < -128.0f ? -128.0f : rounded > 127.0f ? 127.0f : rounded;
  return (int8_t)(int32_t)rounded;
}

static inline __attribute__((always_inline)) void int8s_from_counts(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, int8_t *out) {
  for (int c = 0; c < count; ++c) {
    out[c] = to_int8(transformed(counts[c], offset, lo, hi, multiplier[c], bias[c]));
  }
}

void kb_int8s_from_counts_portable(const int32_t *counts, int count, int32_t offset,
                                   int32_t lo, int32_t hi, const float *multiplier,
                                   const float *bias, int8_t *out) {
  int8s_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

__attribute__((target("avx2"))) void kb_int8s_from_counts_avx2(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, int8_t *out) {
  int8s_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

__attribute__((target("avx512f,avx512bw"))) void kb_int8s_from_counts_avx512(
    const int32_t *counts, int count, int32_t offset, int32_t lo, int32_t hi,
    const float *multiplier, const float *bias, int8_t *out) {
  int8s_from_counts(counts, count, offset, lo, hi, multiplier, bias, out);
}

void kb_output_transform_run(const kb_output_transform *t, const int32_t *counts, int c0,
                             int c1, int padded, void *output, size_t pixel) {
  const int32_t padding = t->group_in * padded;
  if (t->type == kTfLiteInt32) {
    uint32_t *words = (uint32_t *)output + pixel * (size_t)((t->channels + 31) / 32) + c0 / 32;
    for (int w0 = c0; w0 < c1; w0 += 32) {
      uint32_t bits = 0;
      const int w1 = w0 + 32 < c1 ? w0 + 32 : c1;
      for (int c = w0; c < w1; ++c)
        bits |= (uint32_t)(2 * (int64_t)counts[c - c0] + padding > t->thresholds[c]) << (c - w0);
      *words++ = bits;
    }
    return;
  }
  const size_t base = pixel * (size_t)t->channels;
  if (t->type == kTfLiteFloat32)
    t->kernel->floats_from_counts(counts, c1 - c0, padding, t->clamp_min, t->clamp_max,
                                  t->multiplier + c0, t->bias + c0,
                                  (float *)output + base + c0);
  else
    t->kernel->int8s_from_counts(counts, c1 - c0, padding, t->clamp_min, t->clamp_max,
                                 t->multiplier + c0, t->bias + c0,
                                 (int8_t *)output + base + c0);
}
