/* LceQuantize: float32, int8 or bool values to bits packed along the last axis, 32 per
 * int32 word, bit i of word j for element 32 j + i. A bit is 1 for a negative value: float
 * x < 0 (so -0.0 and NaN give 0), int8 q < zero point, bool false; the unused bits of a
 * row's last word are 0. */
#include <stdio.h>

#include "memory.h"
#include "ops.h"
#include "tflite_abi.h"

typedef struct quantize {
  const kb_kernel *kernel;
  int input_type;
  int32_t zero_point;
} quantize;

typedef struct quantize_run {
  const quantize *op;
  const kb_tensor *input;
  kb_tensor *output;
  int columns, words;
  size_t rows;
  int items;
} quantize_run;

static void *create(const kb_node *node, const kb_kernel *kernel, char *why,
                    size_t why_size) {
  const kb_tensor *input = node->inputs[0], *output = node->output;
  if (node->inputs_count != 1 || input == NULL) {
    snprintf(why, why_size, "expects 1 input, has %d", node->inputs_count);
    return NULL;
  }
  if (input->type != kTfLiteFloat32 && input->type != kTfLiteInt8 &&
      input->type != kTfLiteBool) {
    snprintf(why, why_size, "input type %s is not supported (float32, int8 or bool)",
             kb_type_name(input->type));
    return NULL;
  }
  if (output->type != kTfLiteInt32) {
    snprintf(why, why_size, "output type %s is not int32", kb_type_name(output->type));
    return NULL;
  }
  const quantize op = {.kernel = kernel,
                       .input_type = input->type,
                       .zero_point = input->type == kTfLiteInt8 ? input->zero_point : 0};
  return kb_op_copy(&op, sizeof(op), why, why_size);
}

static int prepare(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                   size_t *scratch, char *why, size_t why_size) {
  (void)self;
  const kb_tensor *input = inputs[0];
  if (input->rank < 1) {
    snprintf(why, why_size, "input has rank 0");
    return -1;
  }
  output->rank = input->rank;
  for (int i = 0; i < input->rank; ++i) output->dims[i] = input->dims[i];
  output->dims[input->rank - 1] = kb_packed_words(input->dims[input->rank - 1]);
  *scratch = 0;
  return 0;
}

static void pack_bools(const uint8_t *values, int count, uint32_t *words) {
  for (int begin = 0; begin < count; begin += 32) {
    const int n = count - begin < 32 ? count - begin : 32;
    uint32_t bits = 0;
    for (int i = 0; i < n; ++i) bits |= (uint32_t)(values[begin + i] == 0) << i;
    *words++ = bits;
  }
}

static void pack_rows(void *context, int item, int worker) {
  (void)worker;
  const quantize_run *r = context;
  size_t first = r->rows * (size_t)item / (size_t)r->items;
  size_t last = r->rows * (size_t)(item + 1) / (size_t)r->items;
  uint32_t *out = (uint32_t *)r->output->data + first * (size_t)r->words;
  for (size_t row = first; row < last; ++row, out += r->words) {
    const size_t base = row * (size_t)r->columns;
    if (r->op->input_type == kTfLiteFloat32)
      r->op->kernel->pack_floats((const float *)r->input->data + base, r->columns, out);
    else if (r->op->input_type == kTfLiteInt8)
      r->op->kernel->pack_int8s((const int8_t *)r->input->data + base, r->columns,
                                r->op->zero_point, out);
    else
      pack_bools((const uint8_t *)r->input->data + base, r->columns, out);
  }
}

static void run(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                kb_pool *pool) {
  const kb_tensor *input = inputs[0];
  quantize_run r = {.op = self, .input = input, .output = output};
  r.columns = input->dims[input->rank - 1];
  r.words = kb_packed_words(r.columns);
  r.rows = r.columns == 0 ? 0 : kb_elements(input) / (size_t)r.columns;
  if (r.rows == 0) return;
  r.items = kb_items_for((int)(r.rows < 1u << 30 ? r.rows : 1u << 30),
                         (1 << 15) / (r.columns > 0 ? r.columns : 1), pool);
  kb_pool_run(pool, r.items, pack_rows, &r);
}

static void destroy(void *op) { kb_free(op); }

const kb_op_type kb_op_quantize = {"LceQuantize", create, prepare, run, destroy};
