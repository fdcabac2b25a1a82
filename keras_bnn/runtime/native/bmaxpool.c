/* LceBMaxPool2d: max pooling of packed bits. The maximum of +1/-1 values is -1 only when
 * all of them are -1, so it is the AND of the packed words over the window; with SAME
 * padding the window covers only the pixels inside the input. */
#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "options.h"
#include "ops.h"
#include "tflite_abi.h"

typedef struct bmaxpool {
  int filter_h, filter_w, stride_h, stride_w, padding;
  /* for the current input shape */
  int batch, in_h, in_w, words, out_h, out_w, pad_top, pad_left;
} bmaxpool;

typedef struct bmaxpool_run {
  const bmaxpool *op;
  const uint32_t *input;
  uint32_t *output;
  int rows; /* batch * out_h */
  int items;
} bmaxpool_run;

static void *create(const kb_node *node, const kb_kernel *kernel, char *why,
                    size_t why_size) {
  (void)kernel;
  const kb_tensor *input = node->inputs[0];
  if (node->inputs_count != 1 || input == NULL) {
    snprintf(why, why_size, "expects 1 input, has %d", node->inputs_count);
    return NULL;
  }
  if (input->type != kTfLiteInt32 || node->output->type != kTfLiteInt32) {
    snprintf(why, why_size, "input and output must be int32 (packed bits), are %s and %s",
             kb_type_name(input->type), kb_type_name(node->output->type));
    return NULL;
  }
  kb_options options;
  if (kb_options_open(&options, node->options, node->options_size) != 0) {
    snprintf(why, why_size, "its options are not a FlexBuffers map");
    return NULL;
  }
  bmaxpool op = {0};
  if (kb_option_in_range(&options, "filter_height", 1, 1 << 16, &op.filter_h, why,
                         why_size) ||
      kb_option_in_range(&options, "filter_width", 1, 1 << 16, &op.filter_w, why,
                         why_size) ||
      kb_option_in_range(&options, "stride_height", 1, 1 << 16, &op.stride_h, why,
                         why_size) ||
      kb_option_in_range(&options, "stride_width", 1, 1 << 16, &op.stride_w, why,
                         why_size) ||
      kb_option_in_range(&options, "padding", KB_PADDING_SAME, KB_PADDING_VALID, &op.padding,
                         why, why_size))
    return NULL;
  return kb_op_copy(&op, sizeof(op), why, why_size);
}

static int prepare(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                   size_t *scratch, char *why, size_t why_size) {
  bmaxpool *op = self;
  const kb_tensor *input = inputs[0];
  if (input->rank != 4) {
    snprintf(why, why_size, "input has rank %d, not 4", input->rank);
    return -1;
  }
  op->batch = input->dims[0];
  op->in_h = input->dims[1];
  op->in_w = input->dims[2];
  op->words = input->dims[3];
  op->out_h = kb_output_size(op->padding, op->in_h, op->filter_h, op->stride_h, 1);
  op->out_w = kb_output_size(op->padding, op->in_w, op->filter_w, op->stride_w, 1);
  if (op->out_h <= 0 || op->out_w <= 0) {
    snprintf(why, why_size, "a %dx%d VALID window does not fit the %dx%d input",
             op->filter_h, op->filter_w, op->in_h, op->in_w);
    return -1;
  }
  op->pad_top = kb_padding_before(op->in_h, op->filter_h, op->stride_h, 1, op->out_h);
  op->pad_left = kb_padding_before(op->in_w, op->filter_w, op->stride_w, 1, op->out_w);
  output->rank = 4;
  output->dims[0] = op->batch;
  output->dims[1] = op->out_h;
  output->dims[2] = op->out_w;
  output->dims[3] = op->words;
  *scratch = 0;
  return 0;
}

static int max_int(int a, int b) { return a > b ? a : b; }
static int min_int(int a, int b) { return a < b ? a : b; }

static void pool_rows(void *context, int item, int worker) {
  (void)worker;
  const bmaxpool_run *r = context;
  const bmaxpool *op = r->op;
  const int first = (int)((long)r->rows * item / r->items);
  const int last = (int)((long)r->rows * (item + 1) / r->items);
  for (int row = first; row < last; ++row) {
    const int n = row / op->out_h, oy = row % op->out_h;
    const int y0 = oy * op->stride_h - op->pad_top;
    const int y_begin = max_int(y0, 0), y_end = min_int(y0 + op->filter_h, op->in_h);
    for (int ox = 0; ox < op->out_w; ++ox) {
      const int x0 = ox * op->stride_w - op->pad_left;
      const int x_begin = max_int(x0, 0), x_end = min_int(x0 + op->filter_w, op->in_w);
      uint32_t *out = r->output + (((size_t)n * op->out_h + oy) * op->out_w + ox) * op->words;
      for (int w = 0; w < op->words; ++w) out[w] = ~UINT32_C(0);
      for (int y = y_begin; y < y_end; ++y)
        for (int x = x_begin; x < x_end; ++x) {
          const uint32_t *in = r->input + (((size_t)n * op->in_h + y) * op->in_w + x) * op->words;
          for (int w = 0; w < op->words; ++w) out[w] &= in[w];
        }
    }
  }
}

static void run(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                kb_pool *pool) {
  const bmaxpool *op = self;
  bmaxpool_run r = {.op = op, .input = inputs[0]->data, .output = output->data};
  r.rows = op->batch * op->out_h;
  if (r.rows == 0 || op->out_w == 0 || op->words == 0) return;
  r.items = kb_items_for(r.rows, (1 << 14) / (op->out_w * op->words * op->filter_h *
                                              op->filter_w + 1), pool);
  kb_pool_run(pool, r.items, pool_rows, &r);
}

static void destroy(void *op) { kb_free(op); }

const kb_op_type kb_op_bmaxpool = {"LceBMaxPool2d", create, prepare, run, destroy};
