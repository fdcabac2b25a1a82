/* What an op sees of a tensor: its type, shape, data and quantization. The delegate builds
 * these views from TensorFlow Lite's tensors, or from its own buffers for the tensors that
 * live inside a delegated partition, so the ops never touch TensorFlow Lite's structs. */
#ifndef KERAS_BNN_TENSOR_H
#define KERAS_BNN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_MAX_RANK 6

typedef struct kb_tensor {
  int type;                 /* a TfLiteType */
  int rank;
  int dims[KB_MAX_RANK];
  void *data;               /* NULL before the interpreter allocates it */
  bool constant;            /* data is read-only and fixed (the model's weights) */
  bool quantized;           /* per-tensor affine quantization: scale and zero_point */
  float scale;
  int32_t zero_point;
} kb_tensor;

/* The number of 32-bit words that hold `bits` packed bits (LCE packs along the last axis). */
static inline int kb_packed_words(int bits) { return (bits + 31) / 32; }

/* The number of elements; 0 for a rank-0 view is never produced (ranks are >= 1). */
static inline size_t kb_elements(const kb_tensor *t) {
  size_t count = 1;
  for (int i = 0; i < t->rank; ++i) count *= (size_t)t->dims[i];
  return count;
}

/* Bytes per element of the types the LCE ops use; 0 for others. */
size_t kb_type_size(int type);

/* The name of a type, for messages ("float32", "int8", ...). */
const char *kb_type_name(int type);

#endif /* KERAS_BNN_TENSOR_H */
