/* The TensorFlow Lite external delegate: the entry points that
 * tf.lite.experimental.load_delegate calls, the claiming of LCE's ops, and the delegate
 * kernel that runs one partition of them.
 *
 * When the interpreter applies the delegate, `claim` walks the execution plan and builds
 * an op for every node whose custom op name starts with "Lce". A node it cannot run
 * exactly (an unknown Lce op, an option out of what ops.h supports) makes the whole
 * delegation fail with a message naming the node, the op and the option: the program is
 * refused, never run approximately. The interpreter then groups the claimed nodes into
 * partitions of connected nodes and creates one delegate kernel per partition; XNNPACK,
 * applied afterwards, takes the float ops around them.
 *
 * Inside a partition, a tensor that one claimed op writes and only claimed ops read (the
 * packed bits between an LceQuantize and an LceBconv2d) gets no memory from the
 * interpreter: the partition keeps its own buffer and shape for it. The partition's other
 * outputs are resized through the interpreter whenever the input shapes change. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "denormals.h"
#include "kernel.h"
#include "memory.h"
#include "ops.h"
#include "tflite_abi.h"

#define EXPORT __attribute__((visibility("default")))

enum { kTfLiteBuiltinDelegate = 51, WHY_SIZE = 512 };

typedef struct kb_delegate {
  TfLiteDelegate base; /* first, so that a TfLiteDelegate* is a kb_delegate* */
  const kb_kernel *kernel;
  int threads;         /* 0: the interpreter's number of threads */
  kb_pool *pool;       /* created at the first partition's prepare */
  void **claimed;      /* while claiming: the op of each claimed node, by node index */
  const kb_op_type **claimed_types;
  int claimed_size;
} kb_delegate;

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

static void report(TfLiteContext *context, const char *format, ...) {
  char message[2 * WHY_SIZE];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof(message), format, arguments);
  va_end(arguments);
  context->ReportError(context, "%s\n", message);
}

/* A view of TensorFlow Lite's tensor `index`; 0, or -1 when its layout is not what this
 * runtime was built for. */
static int view_of_tensor(const TfLiteTensor *tensor, kb_tensor *view) {
  memset(view, 0, sizeof(*view));
  if (tensor->dims == NULL || tensor->dims->size < 0 || tensor->dims->size > KB_MAX_RANK)
    return -1;
  view->type = tensor->type;
  view->rank = tensor->dims->size;
  for (int i = 0; i < view->rank; ++i) view->dims[i] = tensor->dims->data[i];
  view->data = tensor->data.data;
  view->constant = tensor->allocation_type == kTfLiteMmapRo ||
                   tensor->allocation_type == kTfLitePersistentRo;
  view->quantized = tensor->quantization.type == kTfLiteAffineQuantization;
  view->scale = tensor->params.scale;
  view->zero_point = tensor->params.zero_point;
  /* A constant's byte count follows from its shape: a check that the struct is read at the
   * offsets TensorFlow Lite wrote it at. */
  if (view->constant && kb_type_size(view->type) != 0 &&
      tensor->bytes != kb_elements(view) * kb_type_size(view->type))
    return -1;
  return 0;
}

static const char *const LAYOUT_ERROR =
    "keras_bnn runtime: TensorFlow Lite's tensors do not have the layout this runtime was "
    "built for (TensorFlow 2.16-2.21); use LCE's interpreter with this TensorFlow";

/* ---- claiming the LCE nodes ------------------------------------------------------- */

static void release_claimed(kb_delegate *d) {
  for (int i = 0; i < d->claimed_size; ++i)
    if (d->claimed[i] != NULL) d->claimed_types[i]->destroy(d->claimed[i]);
  kb_free(d->claimed);
  kb_free(d->claimed_types);
  d->claimed = NULL;
  d->claimed_types = NULL;
  d->claimed_size = 0;
}

/* Builds the op of LCE node `index`; 0, or -1 after reporting why it cannot run. */
static int claim_node(TfLiteContext *context, kb_delegate *d, int index, TfLiteNode *node,
                      const char *name) {
  const kb_op_type *type = kb_op_named(name);
  const char *output_name = "?";
  if (node->outputs->size >= 1 && node->outputs->data[0] >= 0)
    output_name = context->tensors[node->outputs->data[0]].name;
  if (output_name == NULL) output_name = "?";
  if (type == NULL) {
    report(context,
           "keras_bnn runtime: node %d is %s (output '%s'), an op this runtime does not run; "
           "use LCE's interpreter for this program",
           index, name, output_name);
    return -1;
  }
  kb_tensor inputs[KB_MAX_INPUTS], output;
  kb_node description = {.options = node->custom_initial_data,
                         .options_size = (size_t)node->custom_initial_data_size,
                         .inputs_count = node->inputs->size,
                         .output = &output};
  if (node->outputs->size != 1 || node->inputs->size > KB_MAX_INPUTS) {
    report(context, "keras_bnn runtime: %s (node %d, output '%s'): %s", name, index,
           output_name, "unexpected number of inputs or outputs");
    return -1;
  }
  for (int i = 0; i < node->inputs->size; ++i) {
    const int tensor = node->inputs->data[i];
    description.inputs[i] = NULL;
    if (tensor < 0) continue;
    if ((size_t)tensor >= context->tensors_size ||
        view_of_tensor(&context->tensors[tensor], &inputs[i]) != 0) {
      report(context, "%s", LAYOUT_ERROR);
      return -1;
    }
    description.inputs[i] = &inputs[i];
  }
  const int out = node->outputs->data[0];
  if (out < 0 || (size_t)out >= context->tensors_size ||
      view_of_tensor(&context->tensors[out], &output) != 0) {
    report(context, "%s", LAYOUT_ERROR);
    return -1;
  }
  char why[WHY_SIZE] = "";
  void *op = type->create(&description, d->kernel, why, sizeof(why));
  if (op == NULL) {
    report(context, "keras_bnn runtime: %s (node %d, output '%s'): %s", name, index,
           output_name, why);
    return -1;
  }
  d->claimed[index] = op;
  d->claimed_types[index] = type;
  return 0;
}

extern const TfLiteRegistration kb_partition_registration;

static TfLiteStatus claim(TfLiteContext *context, TfLiteDelegate *base) {
  kb_delegate *d = (kb_delegate *)base;
  TfLiteIntArray *plan = NULL;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk || plan == NULL)
    return kTfLiteError;
  const int count = plan->size;
  int *order = kb_alloc(sizeof(int) * (size_t)(count + 1));
  int largest = 0;
  for (int i = 0; i < count; ++i) {
    order[i] = plan->data[i];
    if (order[i] > largest) largest = order[i];
  }
  release_claimed(d);
  d->claimed_size = largest + 1;
  d->claimed = kb_alloc(sizeof(void *) * (size_t)d->claimed_size);
  d->claimed_types = kb_alloc(sizeof(kb_op_type *) * (size_t)d->claimed_size);
  TfLiteIntArray *nodes = malloc(sizeof(TfLiteIntArray) + sizeof(int) * (size_t)count);
  if (order == NULL || d->claimed == NULL || d->claimed_types == NULL || nodes == NULL) {
    report(context, "keras_bnn runtime: out of memory");
    goto fail;
  }
  nodes->size = 0;
  for (int i = 0; i < count; ++i) {
    TfLiteNode *node;
    TfLiteRegistration *registration;
    if (context->GetNodeAndRegistration(context, order[i], &node, &registration) != kTfLiteOk)
      goto fail;
    const char *name = registration->custom_name;
    if (registration->builtin_code != kTfLiteBuiltinCustom || name == NULL ||
        strncmp(name, "Lce", 3) != 0)
      continue;
    if (claim_node(context, d, order[i], node, name) != 0) goto fail;
    nodes->data[nodes->size++] = order[i];
  }
  TfLiteStatus status = kTfLiteOk;
  if (nodes->size > 0)
    status = context->ReplaceNodeSubsetsWithDelegateKernels(context, kb_partition_registration,
                                                            nodes, base);
  free(nodes);
  kb_free(order);
  release_claimed(d); /* whatever the partitions did not take */
  return status;
fail:
  free(nodes);
  kb_free(order);
  release_claimed(d);
  return kTfLiteError;
}

/* ---- the delegate kernel: one partition ------------------------------------------- */

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
  return view_of_tensor(&context->tensors[index], view);
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
    report(context, "keras_bnn runtime: out of memory");
    return kTfLiteError;
  }
  size_t scratch = 0;
  for (int i = 0; i < p->steps_count; ++i) {
    const kb_step *step = &p->steps[i];
    kb_tensor inputs[KB_MAX_INPUTS], output;
    const kb_tensor *pointers[KB_MAX_INPUTS];
    if (step_views(p, context, step, inputs, pointers) != 0 ||
        view_of_tensor(&context->tensors[step->output], &output) != 0) {
      report(context, "%s", LAYOUT_ERROR);
      return kTfLiteError;
    }
    char why[WHY_SIZE] = "";
    size_t needed = 0;
    if (step->type->prepare(step->op, pointers, &output, &needed, why, sizeof(why)) != 0) {
      const char *name = context->tensors[step->output].name;
      report(context, "keras_bnn runtime: %s (output '%s'): %s", step->type->name,
             name ? name : "?", why);
      return kTfLiteError;
    }
    if (needed > scratch) scratch = needed;
    if (shape_output(p, context, step->output, &output) != kTfLiteOk) {
      report(context, "keras_bnn runtime: could not resize a tensor");
      return kTfLiteError;
    }
  }
  kb_delegate *d = p->delegate;
  if (d->pool == NULL) {
    const int threads = d->threads > 0 ? d->threads : context->recommended_num_threads;
    d->pool = kb_pool_create(threads > 0 ? threads : 1);
  }
  if (d->pool == NULL || kb_pool_reserve(d->pool, scratch) != 0) {
    report(context, "keras_bnn runtime: out of memory");
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
      report(context, "%s", LAYOUT_ERROR);
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
  report(context, "keras_bnn runtime: a tensor has no memory at invoke");
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

/* ---- entry points ----------------------------------------------------------------- */

/* Called by tf.lite.experimental.load_delegate(path, options). Options: "kernel" (auto,
 * avx512, avx2 or portable) and "num_threads" (0 or absent: the interpreter's). */
EXPORT TfLiteDelegate *tflite_plugin_create_delegate(char **keys, char **values, int count,
                                                     void (*report_error)(const char *)) {
  const char *kernel_name = "auto";
  int threads = 0;
  char why[WHY_SIZE];
  for (int i = 0; i < count; ++i) {
    if (strcmp(keys[i], "kernel") == 0) {
      kernel_name = values[i];
    } else if (strcmp(keys[i], "num_threads") == 0) {
      char *end;
      const long value = strtol(values[i], &end, 10);
      if (*values[i] == '\0' || *end != '\0' || value < 0 || value > 1024) {
        snprintf(why, sizeof(why), "num_threads=%s is not a number from 0 to 1024", values[i]);
        if (report_error) report_error(why);
        return NULL;
      }
      threads = (int)value;
    } else {
      snprintf(why, sizeof(why), "unknown option '%s' (known: kernel, num_threads)", keys[i]);
      if (report_error) report_error(why);
      return NULL;
    }
  }
  const kb_kernel *kernel = kb_kernel_named(kernel_name, why, sizeof(why));
  if (kernel == NULL) {
    if (report_error) report_error(why);
    return NULL;
  }
  kb_delegate *d = kb_alloc(sizeof(kb_delegate));
  if (d == NULL) {
    if (report_error) report_error("out of memory");
    return NULL;
  }
  d->base.data_ = d;
  d->base.Prepare = claim;
  d->base.flags = kTfLiteDelegateFlagsAllowDynamicTensors;
  d->kernel = kernel;
  d->threads = threads;
  return &d->base;
}

EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate *base) {
  kb_delegate *d = (kb_delegate *)base;
  if (d == NULL) return;
  release_claimed(d);
  kb_pool_destroy(d->pool);
  kb_free(d);
}

/* The kernel a delegate runs ("avx512", "avx2" or "portable"). */
EXPORT const char *keras_bnn_runtime_kernel(const TfLiteDelegate *base) {
  return ((const kb_delegate *)base)->kernel->name;
}

/* The kernel set "auto" picks on this CPU. */
EXPORT const char *keras_bnn_runtime_best_kernel(void) {
  return kb_kernel_named("auto", NULL, 0)->name;
}

/* Runs kernel set `name`'s binary GEMM loop on registers alone for `words` steps (see
 * bgemm.h) and returns the binary multiply-accumulates it did, 0 for an unknown set or one
 * this CPU lacks: time it for the machine's peak. */
EXPORT double keras_bnn_runtime_peak_macs(const char *name, long words) {
  const kb_kernel *kernel = kb_kernel_named(name, NULL, 0);
  if (kernel == NULL) return 0.0;
  volatile uint64_t checksum = kernel->bgemm_peak(words);
  (void)checksum;
  return (double)words * kernel->tile * kernel->block * 64.0;
}

/* Blocks the runtime has allocated and not freed, in this process. */
EXPORT long keras_bnn_runtime_live_allocations(void) { return kb_live_blocks(); }
