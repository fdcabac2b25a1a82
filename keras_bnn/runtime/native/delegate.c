/* The TensorFlow Lite external delegate: the entry points that
 * tf.lite.experimental.load_delegate calls, and the claiming of LCE's ops.
 *
 * When the interpreter applies the delegate, `claim` walks the execution plan and builds
 * an op for every node whose custom op name starts with "Lce". A node it cannot run
 * exactly (an unknown Lce op, an option out of what ops.h supports) makes the whole
 * delegation fail with a message naming the node, the op and the option: the program is
 * refused, never run approximately. The interpreter then groups the claimed nodes into
 * partitions of connected nodes and creates one delegate kernel per partition
 * (partition.c); XNNPACK, applied afterwards, takes the float ops around them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delegate.h"
#include "memory.h"

#define EXPORT __attribute__((visibility("default")))

void kb_report(TfLiteContext *context, const char *format, ...) {
  char message[2 * KB_WHY_SIZE];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof(message), format, arguments);
  va_end(arguments);
  context->ReportError(context, "%s\n", message);
}

int kb_view_of_tensor(const TfLiteTensor *tensor, kb_tensor *view) {
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

const char *const KB_LAYOUT_ERROR =
    "keras_bnn runtime: TensorFlow Lite's tensors do not have the layout this runtime was "
    "built for (TensorFlow 2.21's); use LCE's interpreter with this TensorFlow";

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
  const char *output_name = NULL;
  if (node->outputs->size >= 1 && node->outputs->data[0] >= 0 &&
      (size_t)node->outputs->data[0] < context->tensors_size)
    output_name = context->tensors[node->outputs->data[0]].name;
  if (output_name == NULL) output_name = "?";
  if (type == NULL) {
    kb_report(context,
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
    kb_report(context, "keras_bnn runtime: %s (node %d, output '%s'): %s", name, index,
           output_name, "unexpected number of inputs or outputs");
    return -1;
  }
  for (int i = 0; i < node->inputs->size; ++i) {
    const int tensor = node->inputs->data[i];
    description.inputs[i] = NULL;
    if (tensor < 0) continue;
    if ((size_t)tensor >= context->tensors_size ||
        kb_view_of_tensor(&context->tensors[tensor], &inputs[i]) != 0) {
      kb_report(context, "%s", KB_LAYOUT_ERROR);
      return -1;
    }
    description.inputs[i] = &inputs[i];
  }
  const int out = node->outputs->data[0];
  if (out < 0 || (size_t)out >= context->tensors_size ||
      kb_view_of_tensor(&context->tensors[out], &output) != 0) {
    kb_report(context, "%s", KB_LAYOUT_ERROR);
    return -1;
  }
  char why[KB_WHY_SIZE] = "";
  void *op = type->create(&description, d->kernel, why, sizeof(why));
  if (op == NULL) {
    kb_report(context, "keras_bnn runtime: %s (node %d, output '%s'): %s", name, index,
           output_name, why);
    return -1;
  }
  d->claimed[index] = op;
  d->claimed_types[index] = type;
  return 0;
}

static TfLiteStatus claim(TfLiteContext *context, TfLiteDelegate *base) {
  kb_delegate *d = (kb_delegate *)base;
  TfLiteIntArray *plan = NULL;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk || plan == NULL)
    return kTfLiteError;
  const int count = plan->size;
  /* a copy: the plan changes when nodes are replaced */
  int *order = kb_alloc(sizeof(int) * (size_t)(count + 1));
  int largest = 0;
  for (int i = 0; order != NULL && i < count; ++i) {
    order[i] = plan->data[i];
    if (order[i] > largest) largest = order[i];
  }
  release_claimed(d);
  d->claimed = kb_alloc(sizeof(void *) * (size_t)(largest + 1));
  d->claimed_types = kb_alloc(sizeof(kb_op_type *) * (size_t)(largest + 1));
  if (d->claimed != NULL && d->claimed_types != NULL) d->claimed_size = largest + 1;
  /* the interpreter does not take this array: malloc'ed and freed here */
  TfLiteIntArray *nodes = malloc(sizeof(TfLiteIntArray) + sizeof(int) * (size_t)count);
  if (order == NULL || d->claimed_size == 0 || nodes == NULL) {
    kb_report(context, "keras_bnn runtime: out of memory");
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

/* ---- entry points ----------------------------------------------------------------- */

/* Called by tf.lite.experimental.load_delegate(path, options). Options: "kernel" (auto,
 * avx512, avx2 or portable) and "num_threads" (0 or absent: the interpreter's). */
EXPORT TfLiteDelegate *tflite_plugin_create_delegate(char **keys, char **values, int count,
                                                     void (*report_error)(const char *)) {
  const char *kernel_name = "auto";
  int threads = 0;
  char why[KB_WHY_SIZE];
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
