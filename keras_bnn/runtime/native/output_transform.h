/* LCE's output transform of a binary convolution: from the count of differing bits of each
 * output channel to the value the op writes.
 *
 * With K = filter height x width x input channels per group, the binary dot product is
 * K - 2 * count. LCE folds that, the fused activation (a clamp of the dot product), the
 * op's post_activation multiplier and bias and, for int8, the output's scale and zero
 * point into one integer clamp and one float multiply and add:
 *     y = float(clamp(2 * count)) * multiplier' + bias'
 * with multiplier' = -multiplier / scale and bias' = (bias + K * multiplier) / scale +
 * zero point computed in double, then rounded to float. The multiply and the add are
 * separate float operations (no fused multiply-add), so the result is LCE's to the bit.
 * int8 rounds half away from zero and saturates; packed-bit output sets bit c when the
 * count is above threshold c.
 *
 * Zero padding: the caller has taken the padded positions out of the count; they add
 * C (input channels per group) to 2 * count, i.e. they count as 0 in the dot product. */
#ifndef KERAS_BNN_OUTPUT_TRANSFORM_H
#define KERAS_BNN_OUTPUT_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "tensor.h"

/* tflite::ActivationFunctionType values that LCE's converter writes. */
enum {
  KB_ACTIVATION_NONE = 0,
  KB_ACTIVATION_RELU = 1,
  KB_ACTIVATION_RELU_N1_TO_1 = 2,
  KB_ACTIVATION_RELU6 = 3,
};

typedef struct kb_output_transform {
  const kb_kernel *kernel; /* whose floats_from_counts computes float output */
  int type;       /* output TfLiteType: float32, int8, or int32 for packed bits */
  int activation; /* KB_ACTIVATION_* */
  int channels;   /* output channels */
  int group_in;   /* input channels per group */
  int32_t clamp_min, clamp_max; /* of 2 * count */
  float *multiplier, *bias;     /* multiplier' and bias' */
  int64_t *thresholds;          /* 2 x LCE's thresholds, to compare with 2 * count */
} kb_output_transform;

/* Fills the transform for an op whose dot products have `depth` terms (K) and whose
 * output is `output`; the caller has set `kernel`, `activation`, `channels` and
 * `group_in`.
 * `multiplier` and `bias` (float/int8 output) or `thresholds` (packed output) are the
 * op's constant inputs. 0, or -1 with the reason in `why`. */
int kb_output_transform_init(kb_output_transform *t, const kb_tensor *output, int depth,
                             const float *multiplier, const float *bias,
                             const int32_t *thresholds, char *why, size_t why_size);

void kb_output_transform_free(kb_output_transform *t);

/* Writes channels [c0, c1) of output pixel `pixel` from their counts (counts[0] is channel
 * c0), of which `padded` zero-padded positions were taken out. For packed output c0 is a
 * multiple of 32 and c1 a multiple of 32 or the channel count. */
void kb_output_transform_run(const kb_output_transform *t, const int32_t *counts, int c0,
                             int c1, int padded, void *output, size_t pixel);

#endif /* KERAS_BNN_OUTPUT_TRANSFORM_H */
