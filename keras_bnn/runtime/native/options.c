/* A bounds-checked reader of FlexBuffers maps of integers (see options.h).
 *
 * The format: the last byte of the buffer is the byte width of the root value, the byte
 * before it the root's packed type (type << 2 | log2 of its children's byte width), and the
 * root value sits just before those two bytes. A map value is an offset back to its first
 * value; before the values come three prefix fields of the map's width (offset to the keys
 * vector, the keys' byte width, the length); after the values, one packed type byte per
 * value. Keys are offsets to NUL-terminated strings. */
#include "options.h"

#include <string.h>

enum {
  FLEX_INT = 1,
  FLEX_UINT = 2,
  FLEX_INDIRECT_INT = 6,
  FLEX_INDIRECT_UINT = 7,
  FLEX_MAP = 9,
  FLEX_BOOL = 26,
};

static int valid_width(size_t width) {
  return width == 1 || width == 2 || width == 4 || width == 8;
}

/* The unsigned integer of `width` bytes at `at`; 0 when it is not inside the buffer. */
static int read_uint(const uint8_t *data, size_t size, size_t at, size_t width,
                     uint64_t *value) {
  if (!valid_width(width) || at > size || width > size - at) return 0;
  uint64_t result = 0;
  for (size_t i = 0; i < width; ++i) result |= (uint64_t)data[at + i] << (8 * i);
  *value = result;
  return 1;
}

static int read_int(const uint8_t *data, size_t size, size_t at, size_t width,
                    int64_t *value) {
  uint64_t raw;
  if (!read_uint(data, size, at, width, &raw)) return 0;
  if (width < 8 && (raw >> (8 * width - 1)) & 1) raw |= ~(uint64_t)0 << (8 * width);
  *value = (int64_t)raw;
  return 1;
}

/* The position `offset` bytes before `at`. */
static int back(size_t at, uint64_t offset, size_t *target) {
  if (offset > at) return 0;
  *target = at - (size_t)offset;
  return 1;
}

int kb_options_open(kb_options *options, const void *bytes, size_t size) {
  const uint8_t *data = bytes;
  memset(options, 0, sizeof(*options));
  if (data == NULL || size < 3) return -1;
  size_t root_width = data[size - 1];
  uint8_t root_type = data[size - 2];
  if (!valid_width(root_width) || root_width > size - 2) return -1;
  if (root_type >> 2 != FLEX_MAP) return -1;
  size_t root = size - 2 - root_width;
  size_t width = (size_t)1 << (root_type & 3);
  uint64_t offset, length, keys_offset, key_width;
  size_t values, keys;
  if (!read_uint(data, size, root, root_width, &offset) || !back(root, offset, &values) ||
      values < 3 * width ||
      !read_uint(data, size, values - width, width, &length) ||
      !read_uint(data, size, values - 2 * width, width, &key_width) ||
      !read_uint(data, size, values - 3 * width, width, &keys_offset) ||
      !back(values - 3 * width, keys_offset, &keys) || !valid_width((size_t)key_width))
    return -1;
  /* the values and their type bytes, and the key offsets, must lie inside the buffer */
  if (length > size || (size - values) / (width + 1) < length ||
      (size - keys) / key_width < length)
    return -1;
  options->data = data;
  options->size = size;
  options->values = values;
  options->value_width = width;
  options->length = (size_t)length;
  options->keys = keys;
  options->key_width = (size_t)key_width;
  return 0;
}

/* Whether the key of entry `index` is `key`. */
static int key_is(const kb_options *o, size_t index, const char *key) {
  size_t at = o->keys + index * o->key_width, string;
  uint64_t offset;
  if (!read_uint(o->data, o->size, at, o->key_width, &offset) || !back(at, offset, &string))
    return 0;
  size_t length = strlen(key);
  return length < o->size - string && memcmp(o->data + string, key, length + 1) == 0;
}

kb_option_status kb_options_int(const kb_options *o, const char *key, int64_t *value) {
  for (size_t i = 0; i < o->length; ++i) {
    if (!key_is(o, i, key)) continue;
    size_t at = o->values + i * o->value_width, target;
    uint8_t packed = o->data[o->values + o->length * o->value_width + i];
    size_t target_width = (size_t)1 << (packed & 3);
    uint64_t raw, offset;
    switch (packed >> 2) {
      case FLEX_INT:
        return read_int(o->data, o->size, at, o->value_width, value) ? KB_OPTION_FOUND
                                                                      : KB_OPTION_NOT_AN_INTEGER;
      case FLEX_UINT:
      case FLEX_BOOL:
        if (!read_uint(o->data, o->size, at, o->value_width, &raw) || raw > INT64_MAX)
          return KB_OPTION_NOT_AN_INTEGER;
        *value = (int64_t)raw;
        return KB_OPTION_FOUND;
      case FLEX_INDIRECT_INT:
      case FLEX_INDIRECT_UINT:
        if (!read_uint(o->data, o->size, at, o->value_width, &offset) ||
            !back(at, offset, &target))
          return KB_OPTION_NOT_AN_INTEGER;
        if (packed >> 2 == FLEX_INDIRECT_INT)
          return read_int(o->data, o->size, target, target_width, value)
                     ? KB_OPTION_FOUND
                     : KB_OPTION_NOT_AN_INTEGER;
        if (!read_uint(o->data, o->size, target, target_width, &raw) || raw > INT64_MAX)
          return KB_OPTION_NOT_AN_INTEGER;
        *value = (int64_t)raw;
        return KB_OPTION_FOUND;
      default:
        return KB_OPTION_NOT_AN_INTEGER;
    }
  }
  return KB_OPTION_MISSING;
}
