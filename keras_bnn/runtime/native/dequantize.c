/* LceDequantize: bits packed along the last axis (see quantize.c) back to values: bit 0 is
 * +1 and bit 1 is -1 in float32; in int8 they are the zero point plus and minus
 * round(1 / scale), saturated; in bool, true and false. The number of values per row is
 * not in the packed shape, so it is the one the model declares for the output. */
#include <math.h>
#include <stdio.h>

#include "memory.h"
#include "ops.h"
#include "tflite_abi.h"

typedef struct dequantize {
  int output_type;
  int columns;    /* values per row */
  int8_t plus_one;  /* int8 output: the value of bit 0 */
  int8_t minus_one; /* and of bit 1 */
} dequantize;

typedef struct dequantize_run {
  const dequantize *op;
  const uint32_t *input;
  void *output;
  int words;
  size_t rows;
  int items;
} dequantize_run;

/* LCE's int8 levels: round(1 / scale) added to and subtracted from the zero point, each
 * clamped on one side only and stored in 8 bits. Refused for scales where 1 / scale does
 * not round to an int32 (LCE's result there depends on undefined behaviour). */
static int int8_levels(float scale, int32_t zero_point, dequantize *op, char *why,
                       size_t why_size) {
  const float offset = roundf(1.0f / scale);
  if (!(scale > 0.0f) || !(offset < 2147483648.0f)) {
    snprintf(why, why_size, "int8 output scale %g is not supported (needs 1 / scale < 2^31)",
             (double)scale);
    return -1;
  }
  const int64_t plus = (int64_t)zero_point + (int64_t)offset;
  const int64_t minus = (int64_t)zero_point - (int64_t)offset;
  op->plus_one = (int8_t)(plus < 127 ? plus : 127);
  op->minus_one = (int8_t)(minus > -128 ? minus : -128);
  return 0;
}

static void *create(const kb_node *node, const kb_kernel *kernel, char *why,
                    size_t why_size) {
  (void)kernel;
  const kb_tensor *input = node->inputs[0], *output = node->output;
  if (node->inputs_count != 1 || input == NULL) {
    snprintf(why, why_size, "expects 1 input, has %d", node->inputs_count);
    return NULL;
  }
  if (input->type != kTfLiteInt32) {
    snprintf(why, why_size, "input type %s is not int32", kb_type_name(input->type));
    return NULL;
  }
  if (output->type != kTfLiteFloat32 && output->type != kTfLiteInt8 &&
      output->type != kTfLiteBool) {
    snprintf(why, why_size, "output type %s is not supported (float32, int8 or bool)",
             kb_type_name(output->type));
    return NULL;
  }
  if (output->rank < 1 || output->rank != input->rank) {
    snprintf(why, why_size, "output rank %d differs from input rank %d", output->rank,
             input->rank);
    return NULL;
  }
  dequantize op = {.output_type = output->type, .columns = output->dims[output->rank - 1]};
  if (output->type == kTfLiteInt8) {
    if (!output->quantized) {
      snprintf(why, why_size, "int8 output has no quantization parameters");
      return NULL;
    }
    if (int8_levels(output->scale, output->zero_point, &op, why, why_size) != 0) return NULL;
  }
  return kb_op_copy(&op, sizeof(op), why, why_size);
}

static int prepare(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                   size_t *scratch, char *why, size_t why_size) {
  const dequantize *op = self;
  const kb_tensor *input = inputs[0];
  if (input->rank < 1 || input->dims[input->rank - 1] != kb_packed_words(op->columns)) {
    snprintf(why, why_size, "input's last dimension is not %d words for %d values",
             kb_packed_words(op->columns), op->columns);
    return -1;
  }
  output->rank = input->rank;
  for (int i = 0; i < input->rank; ++i) output->dims[i] = input->dims[i];
  output->dims[input->rank - 1] = op->columns;
  *scratch = 0;
  return 0;
}

static void unpack_rows(void *context, int item, int worker) {
  (void)worker;
  const dequantize_run *r = context;
  const dequantize *op = r->op;
  const size_t first = r->rows * (size_t)item / (size_t)r->items;
  const size_t last = r->rows * (size_t)(item + 1) / (size_t)r->items;
  for (size_t row = first; row < last; ++row) {
    const uint32_t *words = r->input + row * (size_t)r->words;
    const size_t base = row * (size_t)op->columns;
    for (int c = 0; c < op->columns; ++c) {
      const int bit = (words[c / 32] >> (c % 32)) & 1;
      switch (op->output_type) {
        case kTfLiteFloat32:
          ((float *)r->output)[base + c] = bit ? -1.0f : 1.0f;
          break;
        case kTfLiteInt8:
          ((int8_t *)r->output)[base + c] = bit ? op->minus_one : op->plus_one;
          break;
        default:
          ((uint8_t *)r->output)[base + c] = (uint8_t)!bit;
          break;
      }
    }
  }
}

static void run(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                kb_pool *pool) {
  const dequantize *op = self;
  const kb_tensor *input = inputs[0];
  dequantize_run r = {.op = op, .input = input->data, .output = output->data};
  r.words = input->dims[input->rank - 1];
  r.rows = r.words == 0 ? 0 : kb_elements(input) / (size_t)r.words;
  if (r.rows == 0 || op->columns == 0) return;
  r.items = kb_items_for((int)(r.rows < 1u << 30 ? r.rows : 1u << 30),
                         (1 << 15) / op->columns, pool);
  kb_pool_run(pool, r.items, unpack_rows, &r);
}

static void destroy(void *op) { kb_free(op); }

const kb_op_type kb_op_dequantize = {"LceDequantize", create, prepare, run, destroy};
