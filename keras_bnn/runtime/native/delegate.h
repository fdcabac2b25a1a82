/* What the delegate's two halves share: claiming the LCE nodes and the entry points
 * (delegate.c), and running a partition of them (partition.c). */
#ifndef KERAS_BNN_DELEGATE_H
#define KERAS_BNN_DELEGATE_H

#include "kernel.h"
#include "ops.h"
#include "tensor.h"
#include "tflite_abi.h"

enum { KB_WHY_SIZE = 512 };

typedef struct kb_delegate {
  TfLiteDelegate base; /* first, so that a TfLiteDelegate* is a kb_delegate* */
  const kb_kernel *kernel;
  int threads;         /* 0: the interpreter's number of threads */
  kb_pool *pool;       /* created at the first partition's prepare */
  /* while claiming: the op of each claimed node, by node index, until a partition
   * takes it */
  void **claimed;
  const kb_op_type **claimed_types;
  int claimed_size;
} kb_delegate;

/* The delegate kernel the interpreter creates for each partition of claimed nodes. */
extern const TfLiteRegistration kb_partition_registration;

/* Reports a message through the interpreter (printf-style; one line). */
void kb_report(TfLiteContext *context, const char *format, ...);

/* A view of a TensorFlow Lite tensor; 0, or -1 when the struct does not have the layout
 * this runtime was built for (then report KB_LAYOUT_ERROR). */
int kb_view_of_tensor(const TfLiteTensor *tensor, kb_tensor *view);

extern const char *const KB_LAYOUT_ERROR;

#endif /* KERAS_BNN_DELEGATE_H */
