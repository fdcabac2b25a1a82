/* The LCE ops the runtime runs, behind one interface that the delegate drives:
 * create (once, from the op's options and the model's tensors), prepare (whenever the
 * input shapes change: the output shape and the scratch each worker needs) and run.
 * An op that create cannot run exactly as LCE defines it is refused with a message that
 * names the option, never approximated. */
#ifndef KERAS_BNN_OPS_H
#define KERAS_BNN_OPS_H

#include <stddef.h>

#include "kernel.h"
#include "tensor.h"
#include "threads.h"

#define KB_MAX_INPUTS 5

/* One node of the model as the interpreter declares it. */
typedef struct kb_node {
  const void *options; /* the FlexBuffers map of the op's options */
  size_t options_size;
  int inputs_count;
  const kb_tensor *inputs[KB_MAX_INPUTS]; /* NULL for an absent optional input */
  const kb_tensor *output;
} kb_node;

typedef struct kb_op_type {
  const char *name; /* LCE's name of the op, e.g. "LceBconv2d" */
  /* The op for `node`, or NULL with the reason in `why`. */
  void *(*create)(const kb_node *node, const kb_kernel *kernel, char *why,
                  size_t why_size);
  /* Sets output->rank and dims from the inputs' shapes and *scratch to the bytes each
   * worker needs; 0, or -1 with the reason in `why`. */
  int (*prepare)(void *op, const kb_tensor *const *inputs, kb_tensor *output,
                 size_t *scratch, char *why, size_t why_size);
  void (*run)(void *op, const kb_tensor *const *inputs, kb_tensor *output, kb_pool *pool);
  void (*destroy)(void *op);
} kb_op_type;

extern const kb_op_type kb_op_quantize;
extern const kb_op_type kb_op_dequantize;
extern const kb_op_type kb_op_bconv2d;
extern const kb_op_type kb_op_bmaxpool;

/* The op type LCE calls `name`, or NULL. */
const kb_op_type *kb_op_named(const char *name);

/* TFLite's padding enum in the options (tflite::Padding). */
enum { KB_PADDING_SAME = 0, KB_PADDING_VALID = 1 };

/* Output size of a window of `filter` taps `dilation` apart, moved by `stride` over `input`
 * positions, as TensorFlow Lite computes it (may be <= 0 for VALID). */
static inline int kb_output_size(int padding, int input, int filter, int stride,
                                 int dilation) {
  const int span = (filter - 1) * dilation + 1;
  return padding == KB_PADDING_SAME ? (input + stride - 1) / stride
                                    : (input + stride - span) / stride;
}

/* Positions padded before the first input position (the rest of the padding goes after). */
static inline int kb_padding_before(int input, int filter, int stride, int dilation,
                                    int output) {
  const int total = (output - 1) * stride + (filter - 1) * dilation + 1 - input;
  return total > 0 ? total / 2 : 0;
}

/* Reads integer option `key` of `options` into *value, checking lo <= value <= hi; 0, or
 * -1 with the reason in `why`. */
struct kb_options;
int kb_option_in_range(const struct kb_options *options, const char *key, int lo, int hi,
                       int *value, char *why, size_t why_size);

/* A heap copy of an op's `bytes`-long state, or NULL with "out of memory" in `why`. */
void *kb_op_copy(const void *op, size_t bytes, char *why, size_t why_size);

/* Splits `count` rows over the pool: items of about `grain` rows or more. */
int kb_items_for(int count, int grain, const kb_pool *pool);

#endif /* KERAS_BNN_OPS_H */
