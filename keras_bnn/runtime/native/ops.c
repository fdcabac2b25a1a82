/* The op registry and the helpers the ops share (see ops.h). */
#include "ops.h"

#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "options.h"

const kb_op_type *kb_op_named(const char *name) {
  static const kb_op_type *const types[] = {&kb_op_quantize, &kb_op_dequantize,
                                            &kb_op_bconv2d, &kb_op_bmaxpool};
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); ++i)
    if (strcmp(types[i]->name, name) == 0) return types[i];
  return NULL;
}

int kb_option_in_range(const kb_options *options, const char *key, int lo, int hi,
                       int *value, char *why, size_t why_size) {
  int64_t raw = 0;
  switch (kb_options_int(options, key, &raw)) {
    case KB_OPTION_MISSING:
      snprintf(why, why_size, "option %s is missing", key);
      return -1;
    case KB_OPTION_NOT_AN_INTEGER:
      snprintf(why, why_size, "option %s is not an integer", key);
      return -1;
    case KB_OPTION_FOUND:
      break;
  }
  if (raw < lo || raw > hi) {
    snprintf(why, why_size, "option %s=%lld is not supported (supported: %d to %d)", key,
             (long long)raw, lo, hi);
    return -1;
  }
  *value = (int)raw;
  return 0;
}

void *kb_op_copy(const void *op, size_t bytes, char *why, size_t why_size) {
  void *copy = kb_alloc(bytes);
  if (copy == NULL)
    snprintf(why, why_size, "out of memory");
  else
    memcpy(copy, op, bytes);
  return copy;
}

int kb_items_for(int count, int grain, const kb_pool *pool) {
  const int threads = kb_pool_threads(pool);
  int items = count / (grain > 0 ? grain : 1);
  if (items > 4 * threads) items = 4 * threads;
  return items < 1 ? 1 : items;
}
