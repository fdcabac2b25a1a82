/* The options of an LCE op: a FlexBuffers map of integers (the node's custom data, as LCE's
 * converter writes it, e.g. {"stride_height": 1, "padding": 0, ...}). Only what the LCE
 * ops use is read: a map at the root, and integer, unsigned and bool values, inline or
 * indirect. Every read is bounds-checked: the bytes come from a model file. */
#ifndef KERAS_BNN_OPTIONS_H
#define KERAS_BNN_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kb_options {
  const uint8_t *data;
  size_t size;
  size_t values;       /* offset of the first value */
  size_t value_width;  /* bytes per value and per prefix field */
  size_t length;       /* number of entries */
  size_t keys;         /* offset of the first key offset */
  size_t key_width;
} kb_options;

typedef enum kb_option_status {
  KB_OPTION_FOUND = 0,
  KB_OPTION_MISSING = 1,
  KB_OPTION_NOT_AN_INTEGER = 2,
} kb_option_status;

/* Reads the map at the root of `data`; 0 on success, -1 when it is not a FlexBuffers map. */
int kb_options_open(kb_options *options, const void *data, size_t size);

/* The integer under `key` (a bool reads as 0 or 1). */
kb_option_status kb_options_int(const kb_options *options, const char *key, int64_t *value);

#endif /* KERAS_BNN_OPTIONS_H */
