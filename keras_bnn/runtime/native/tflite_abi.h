/* The part of TensorFlow Lite's C ABI that keras_bnn's delegate uses.
 *
 * TensorFlow's Python wheel ships no TensorFlow Lite headers and exports no TfLite*
 * symbols, so the delegate declares the structs it shares with the interpreter itself.
 * They follow TensorFlow Lite's `common.h` of TensorFlow 2.21 on x86-64 (its structs only
 * ever grow at their end, so older versions share these prefixes; only 2.21 is tested). Every size and every offset the delegate reads or
 * writes is pinned by a static assertion below; keras_bnn.runtime refuses a TensorFlow
 * version it was not tested with, and the delegate checks at run time that the tensors it
 * is given are consistent (see delegate.c), so a layout change fails loudly, never
 * silently.
 *
 * Only the fields the delegate touches are meaningful to it; the others are declared to
 * keep the offsets right.
 */
#ifndef KERAS_BNN_TFLITE_ABI_H
#define KERAS_BNN_TFLITE_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum TfLiteStatus {
  kTfLiteOk = 0,
  kTfLiteError = 1,
  kTfLiteDelegateError = 2,
} TfLiteStatus;

typedef enum TfLiteType {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
} TfLiteType;

typedef enum TfLiteAllocationType {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
} TfLiteAllocationType;

enum { kTfLiteAffineQuantization = 1 };
enum { kTfLiteDelegateFlagsAllowDynamicTensors = 1 };
enum { kTfLiteBuiltinCustom = 32 };  /* BuiltinOperator_CUSTOM */

typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct TfLiteQuantization {
  int type;
  void *params;
} TfLiteQuantization;

struct TfLiteContext;
struct TfLiteDelegate;

typedef struct TfLiteTensor {
  TfLiteType type;
  union {
    void *data;
    char *raw;
  } data;
  TfLiteIntArray *dims;
  TfLiteQuantizationParams params;
  TfLiteAllocationType allocation_type;
  size_t bytes;
  const void *allocation;
  const char *name;
  struct TfLiteDelegate *delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void *sparsity;
  const TfLiteIntArray *dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray *inputs;
  TfLiteIntArray *outputs;
  TfLiteIntArray *intermediates;
  TfLiteIntArray *temporaries;
  void *user_data;
  void *builtin_data;
  const void *custom_initial_data;
  int custom_initial_data_size;
  struct TfLiteDelegate *delegate;
  bool might_have_side_effect;
} TfLiteNode;

typedef struct TfLiteRegistration {
  void *(*init)(struct TfLiteContext *context, const char *buffer, size_t length);
  void (*free)(struct TfLiteContext *context, void *buffer);
  TfLiteStatus (*prepare)(struct TfLiteContext *context, TfLiteNode *node);
  TfLiteStatus (*invoke)(struct TfLiteContext *context, TfLiteNode *node);
  const char *(*profiling_string)(const struct TfLiteContext *context, const TfLiteNode *node);
  int32_t builtin_code;
  const char *custom_name;
  int version;
  void *registration_external; /* must stay NULL: the interpreter would route calls there */
  void *(*async_kernel)(struct TfLiteContext *context, TfLiteNode *node);
  uint64_t inplace_operator;
} TfLiteRegistration;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext *context, TfLiteIntArray **plan);
  TfLiteTensor *tensors;
  void *impl_;
  /* Takes ownership of `new_size`, which it frees with free(): allocate it with malloc. */
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext *context, TfLiteTensor *tensor,
                               TfLiteIntArray *new_size);
  void (*ReportError)(struct TfLiteContext *context, const char *format, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext *context, int count, int *first_index);
  TfLiteStatus (*GetNodeAndRegistration)(struct TfLiteContext *context, int node_index,
                                         TfLiteNode **node,
                                         TfLiteRegistration **registration);
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(struct TfLiteContext *context,
                                                        TfLiteRegistration registration,
                                                        const TfLiteIntArray *nodes,
                                                        struct TfLiteDelegate *delegate);
  int recommended_num_threads;
} TfLiteContext;

/* What the interpreter passes to the `init` of a delegate kernel: one partition. */
typedef struct TfLiteDelegateParams {
  struct TfLiteDelegate *delegate;
  TfLiteIntArray *nodes_to_replace;
  TfLiteIntArray *input_tensors;
  TfLiteIntArray *output_tensors;
} TfLiteDelegateParams;

typedef struct TfLiteDelegate {
  void *data_;
  TfLiteStatus (*Prepare)(TfLiteContext *context, struct TfLiteDelegate *delegate);
  void *CopyFromBufferHandle;
  void *CopyToBufferHandle;
  void *FreeBufferHandle;
  int64_t flags;
  void *opaque_delegate_builder; /* must stay NULL: it would replace Prepare */
} TfLiteDelegate;

/* x86-64 layouts of TensorFlow 2.21. */
_Static_assert(sizeof(void *) == 8, "keras_bnn's runtime targets 64-bit x86");
_Static_assert(sizeof(TfLiteQuantizationParams) == 8, "TfLiteQuantizationParams");
_Static_assert(offsetof(TfLiteTensor, data) == 8, "TfLiteTensor.data");
_Static_assert(offsetof(TfLiteTensor, dims) == 16, "TfLiteTensor.dims");
_Static_assert(offsetof(TfLiteTensor, params) == 24, "TfLiteTensor.params");
_Static_assert(offsetof(TfLiteTensor, allocation_type) == 32, "TfLiteTensor.allocation_type");
_Static_assert(offsetof(TfLiteTensor, bytes) == 40, "TfLiteTensor.bytes");
_Static_assert(offsetof(TfLiteTensor, name) == 56, "TfLiteTensor.name");
_Static_assert(offsetof(TfLiteTensor, quantization) == 80, "TfLiteTensor.quantization");
_Static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor: context->tensors is indexed by it");
_Static_assert(offsetof(TfLiteNode, custom_initial_data) == 48, "TfLiteNode.custom_data");
_Static_assert(offsetof(TfLiteNode, custom_initial_data_size) == 56, "TfLiteNode.custom_size");
_Static_assert(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration is passed by value");
_Static_assert(offsetof(TfLiteRegistration, builtin_code) == 40, "builtin_code");
_Static_assert(offsetof(TfLiteRegistration, custom_name) == 48, "custom_name");
_Static_assert(offsetof(TfLiteContext, tensors) == 16, "TfLiteContext.tensors");
_Static_assert(offsetof(TfLiteContext, ResizeTensor) == 32, "TfLiteContext.ResizeTensor");
_Static_assert(offsetof(TfLiteContext, ReportError) == 40, "TfLiteContext.ReportError");
_Static_assert(offsetof(TfLiteContext, GetNodeAndRegistration) == 56,
               "TfLiteContext.GetNodeAndRegistration");
_Static_assert(offsetof(TfLiteContext, ReplaceNodeSubsetsWithDelegateKernels) == 64,
               "TfLiteContext.ReplaceNodeSubsetsWithDelegateKernels");
_Static_assert(offsetof(TfLiteContext, recommended_num_threads) == 72,
               "TfLiteContext.recommended_num_threads");
_Static_assert(sizeof(TfLiteDelegateParams) == 32, "TfLiteDelegateParams");
_Static_assert(offsetof(TfLiteDelegate, flags) == 40, "TfLiteDelegate.flags");
_Static_assert(sizeof(TfLiteDelegate) == 56, "TfLiteDelegate");

#endif /* KERAS_BNN_TFLITE_ABI_H */
