/* The delegate kernel: one partition of claimed LCE nodes, run in order.
 *
 * Inside a partition, a tensor that one claimed op writes and only claimed ops read (the
 * packed bits between an LceQuantize and an LceBconv2d) gets no memory from the
 * interpreter: the partition keeps its own buffer and shape for it. The partition's other
 * outputs are resized through the interpreter whenever the input shapes change (prepare),
 * and the ops run with denormals flushed, as LCE's (invoke). */
#include <stdlib.h>

#include "delegate.h"
#include "denormals.h"
#include "memory.h"

enum { kTfLiteBuiltinDelegate = 51 };

typedef struct kb_step {
  const kb_op_type *type;
  void *op;
  int inputs_count;
  int inputs[KB_MAX_INPUTS]; /* tensor indices, -1 for an absent input */
  int output;
} kb_step;

typedef struct kb_internal { /* a tensor that lives only inside the partition */
  int tensor;
  kb_tensor view;
  size_t capacity;
} kb_internal;

typedef struct kb_partition {
  kb_delegate *delegate;
  int steps_count;
  kb_step *steps;
  int internal_count;
  kb_internal *internal;
} kb_partition;

static kb_internal *internal_of(const kb_partition *p, int tensor) {
  for (int i = 0; i < p->internal_count; ++i)
    if (p->internal[i].tensor == tensor) return &p->internal[i];
  return NULL;
}

static void partition_free(TfLiteContext *context, void *buffer) {
  (void)context;
  kb_partition *p = buffer;
  if (p == NULL) return;
  for (int i = 0; i < p->steps_count; ++i)
    if (p->steps[i].op != NULL) p->steps[i].type->destroy(p->steps[i].op);
  for (int i = 0; i < p->internal_count; ++i) kb_free(p->internal[i].view.data);
  kb_free(p->steps);
  kb_free(p->internal);
  kb_free(p);
}

static int contains(const TfLiteIntArray *array, int value) {
  for (int i = 0; i < array->size; ++i)
    if (array->data[i] == value) return 1;
  return 0;
}

static void *partition_init(TfLiteContext *context, const char *buffer, size_t length) {
  (void)length;
  const TfLiteDelegateParams *params = (const TfLiteDelegateParams *)buffer;
  kb_delegate *d = (kb_delegate *)params->delegate;
  const int count = params->nodes_to_replace->size;
  kb_partition *p = kb_alloc(sizeof(kb_partition));
  if (p == NULL) return NULL;
  p->delegate = d;
  p->steps = kb_alloc(sizeof(kb_step) * (size_t)count);
  p->internal = kb_alloc(sizeof(kb_internal) * (size_t)count);
  if (p->steps == NULL || p->internal == NULL) {
    partition_free(context, p);
    return NULL;
  }
  for (int i = 0; i < count; ++i) {
    const int index = params->nodes_to_replace->data[i];
    TfLiteNode *node;
    TfLiteRegistration *registration;
    kb_step *step = &p->steps[p->steps_count++];
    if (index >= d->claimed_size || d->claimed[index] == NULL ||
        context->GetNodeAndRegistration(context, index, &node, &registration) != kTfLiteOk) {
      partition_free(context, p);
      return NULL;
    }
    step->type = d->claimed_types[index];
    step->op = d->claimed[index];
    d->claimed[index] = NULL;
    step->inputs_count = node->inputs->size;
    for (int j = 0; j < node->inputs->size; ++j) step->inputs[j] = node->inputs->data[j];
    step->output = node->outputs->data[0];
    if (!contains(params->output_tensors, step->output))
      p->internal[p->internal_count++].tensor = step->output;
  }
  return p;
}

/* The view of tensor `index` as a step sees it: the partition's own buffer for an internal
 * tensor, the interpreter's tensor otherwise. */
static int step_view(const kb_partition *p, TfLiteContext *context, int index,
                     kb_tensor *view) {
  const kb_internal *internal = internal_of(p, index);
  if (internal != NULL) {
    *view = internal->view;
    return 0;
  }
  return kb_view_of_tensor(&context->tensors[index], view);
}

static int step_views(const kb_partition *p, TfLiteContext *context, const kb_step *step,
                      kb_tensor *inputs, const kb_tensor **pointers) {
  for (int j = 0; j < step->inputs_count; ++j) {
    pointers[j] = NULL;
    if (step->inputs[j] < 0) continue;
    if (step_view(p, context, step->inputs[j], &inputs[j]) != 0) return -1;
    pointers[j] = &inputs[j];
  }
  return 0;
}

static int same_shape(const TfLiteIntArray *dims, const kb_tensor *view) {
  if (dims == NULL || dims->size != view->rank) return 0;
  for (int i = 0; i < view->rank; ++i)
    if (dims->data[i] != view->dims[i]) return 0;
  return 1;
}

/* Gives the step's output the shape `view` has: the partition's own buffer, or the
 * interpreter's tensor through ResizeTensor (which takes a malloc'ed shape). */
static TfLiteStatus shape_output(kb_partition *p, TfLiteContext *context, int index,
                                 const kb_tensor *view) {
  kb_internal *internal = internal_of(p, index);
  if (internal != NULL) {
    const size_t bytes = kb_elements(view) * kb_type_size(view->type);
    void *data = internal->view.data;
    if (bytes > internal->capacity) {
      kb_free(data);
      data = kb_alloc(bytes);
      if (data == NULL) return kTfLiteError;
      internal->capacity = bytes;
    }
    internal->view = *view;
    internal->view.data = data;
    return kTfLiteOk;
  }
  TfLiteTensor *tensor = &context->tensors[index];
  if (same_shape(tensor->dims, view)) return kTfLiteOk;
  TfLiteIntArray *shape = malloc(sizeof(TfLiteIntArray) + sizeof(int) * (size_t)view->rank);
  if (shape == NULL) return kTfLiteError;
  shape->size = view->rank;
  for (int i = 0; i < view->rank; ++i) shape->data[i] = view->dims[i];
  return context->ResizeTensor(context, tensor, shape);
}

static TfLiteStatus partition_prepare(TfLiteContext *context, TfLiteNode *node) {
  kb_partition *p = node->user_data;
  if (p == NULL) {
    kb_report(context, "keras_bnn runtime: could not set up a partition (out of memory)");
    return kTfLiteError;
  }
  size_t scratch = 0;
  for (int i = 0; i < p->steps_count; ++i) {
    const kb_step *step = &p->steps[i];
    kb_tensor inputs[KB_MAX_INPUTS], output;
    const kb_tensor *pointers[KB_MAX_INPUTS];
    if (step_views(p, context, step, inputs, pointers) != 0 ||
        kb_view_of_tensor(&context->tensors[step->output], &output) != 0) {
      kb_report(context, "%s", KB_LAYOUT_ERROR);
      return kTfLiteError;
    }
    char why[KB_WHY_SIZE] = "";
    size_t needed = 0;
    if (step->type->prepare(step->op, pointers, &output, &needed, why, sizeof(why)) != 0) {
      const char *name = context->tensors[step->output].name;
      kb_report(context, "keras_bnn runtime: %s (output '%s'): %s", step->type->name,
             name ? name : "?", why);
      return kTfLiteError;
    }
    if (needed > scratch) scratch = needed;
    if (shape_output(p, context, step->output, &output) != kTfLiteOk) {
      kb_report(context, "keras_bnn runtime: could not resize a tensor");
      return kTfLiteError;
    }
  }
  kb_delegate *d = p->delegate;
  if (d->pool == NULL) {
    const int threads = d->threads > 0 ? d->threads : context->recommended_num_threads;
    d->pool = kb_pool_create(threads > 0 ? threads : 1);
  }
  if (d->pool == NULL || kb_pool_reserve(d->pool, scratch) != 0) {
    kb_report(context, "keras_bnn runtime: out of memory");
    return kTfLiteError;
  }
  return kTfLiteOk;
}

static TfLiteStatus partition_invoke(TfLiteContext *context, TfLiteNode *node) {
  kb_partition *p = node->user_data;
  const unsigned float_mode = kb_flush_denormals();
  for (int i = 0; i < p->steps_count; ++i) {
    const kb_step *step = &p->steps[i];
    kb_tensor inputs[KB_MAX_INPUTS], output;
    const kb_tensor *pointers[KB_MAX_INPUTS];
    if (step_views(p, context, step, inputs, pointers) != 0 ||
        step_view(p, context, step->output, &output) != 0) {
      kb_report(context, "%s", KB_LAYOUT_ERROR);
      return kTfLiteError;
    }
    for (int j = 0; j < step->inputs_count; ++j)
      if (pointers[j] != NULL && pointers[j]->data == NULL && kb_elements(pointers[j]) > 0)
        goto unallocated;
    if (output.data == NULL && kb_elements(&output) > 0) goto unallocated;
    step->type->run(step->op, pointers, &output, p->delegate->pool);
  }
  kb_restore_float_mode(float_mode);
  return kTfLiteOk;
unallocated:
  kb_restore_float_mode(float_mode);
  kb_report(context, "keras_bnn runtime: a tensor has no memory at invoke");
  return kTfLiteError;
}

const TfLiteRegistration kb_partition_registration = {
    .init = partition_init,
    .free = partition_free,
    .prepare = partition_prepare,
    .invoke = partition_invoke,
    .builtin_code = kTfLiteBuiltinDelegate,
    .custom_name = "KerasBnnRuntime",
    .version = 1,
};
