/* LceBconv2d: a binary 2D convolution of packed bits with packed filters (see bgemm.h),
 * followed by LCE's output transform (output_transform.h).
 *
 * The output is split into tiles of pixels x output channels, one work item each: the
 * receptive fields of the tile's pixels are gathered into rows (im2col, the padded
 * positions as 0 bits, i.e. +1), the binary GEMM counts the differing bits against each
 * filter, and the transform turns the counts into float32, int8 or packed bits. With
 * zero padding (SAME and pad_values = 0) a padded position must count as 0, not +1: the
 * bits the filters differ from +1 there (their own popcount) are taken back from the
 * count, and the dot product counts no term for them (x = 2 * count + C * padded
 * positions, as LCE's reference does; exact for odd channel counts too).
 *
 * Grouped convolutions (LCE: groups = input words / filter words, 32 channels or more per
 * group) run one group after the other inside a tile that spans all output channels. */
#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "options.h"
#include "ops.h"
#include "output_transform.h"
#include "tflite_abi.h"

/* Rows of a tile are gathered into a scratch buffer of about this many bytes. */
enum { ROW_BYTES_PER_TILE = 1 << 15, MAX_TILE_PIXELS = 96, TILE_CHANNELS = 128 };

typedef struct bconv {
  /* options */
  int stride_h, stride_w, dilation_h, dilation_w, padding, pad_value;
  /* from the filters */
  int channels_in, channels_out, groups, filter_h, filter_w;
  int group_in;       /* channels per input group */
  int group_out;      /* output channels per group */
  int group_words;    /* packed 32-bit words per pixel per group */
  int depth;          /* 64-bit words per receptive field (odd word counts get a 0 word) */
  const kb_kernel *kernel;
  uint64_t *packed;   /* the filters of each group, packed for `kernel` */
  size_t group_packed_words;
  int32_t *filter_popcount; /* [position][channel]: for zero padding only */
  kb_output_transform transform;
  /* for the current input shape */
  int batch, in_h, in_w, out_h, out_w, pad_top, pad_left;
  int pixels, tile_pixels, tile_channels, channel_tiles; /* tile_pixels: the largest */
  size_t acc_stride;
  int direct_rows; /* 1x1, stride 1, unpadded, even words: the input itself is the rows */
} bconv;

typedef struct bconv_run {
  const bconv *op;
  const uint32_t *input;
  void *output;
  kb_pool *pool;
  int tile_pixels, pixel_tiles; /* this run's split of the pixels */
} bconv_run;

static int read_options(bconv *op, const void *bytes, size_t size, char *why,
                        size_t why_size) {
  kb_options options;
  if (kb_options_open(&options, bytes, size) != 0) {
    snprintf(why, why_size, "its options are not a FlexBuffers map");
    return -1;
  }
  const int big = 1 << 16;
  return kb_option_in_range(&options, "stride_height", 1, big, &op->stride_h, why,
                            why_size) ||
         kb_option_in_range(&options, "stride_width", 1, big, &op->stride_w, why,
                            why_size) ||
         kb_option_in_range(&options, "dilation_height_factor", 1, big, &op->dilation_h, why,
                            why_size) ||
         kb_option_in_range(&options, "dilation_width_factor", 1, big, &op->dilation_w, why,
                            why_size) ||
         kb_option_in_range(&options, "padding", KB_PADDING_SAME, KB_PADDING_VALID,
                            &op->padding, why, why_size) ||
         kb_option_in_range(&options, "pad_values", 0, 1, &op->pad_value, why, why_size) ||
         kb_option_in_range(&options, "channels_in", 1, 1 << 24, &op->channels_in, why,
                            why_size) ||
         kb_option_in_range(&options, "fused_activation_function", KB_ACTIVATION_NONE,
                            KB_ACTIVATION_RELU6, &op->transform.activation, why, why_size)
             ? -1
             : 0;
}

/* Groups, as LCE derives them from the input channels and the filters' packed depth. */
static int read_groups(bconv *op, char *why, size_t why_size) {
  const int words_in = kb_packed_words(op->channels_in);
  if (op->group_words == words_in) {
    op->groups = 1;
  } else if (words_in % op->group_words == 0) {
    op->groups = words_in / op->group_words;
    if ((op->channels_in / op->groups) % 32 != 0 || op->channels_out % op->groups != 0) {
      snprintf(why, why_size,
               "%d groups of %d input channels are not supported: a group needs a multiple "
               "of 32 input channels and an equal share of the %d outputs",
               op->groups, op->channels_in / op->groups, op->channels_out);
      return -1;
    }
  } else {
    snprintf(why, why_size, "filters of %d words per pixel do not divide %d input channels",
             op->group_words, op->channels_in);
    return -1;
  }
  op->group_in = op->channels_in / op->groups;
  op->group_out = op->channels_out / op->groups;
  return 0;
}

/* The filters as rows of `depth` 64-bit words (a 0 word after an odd count), packed for
 * the kernel group by group; and, for zero padding, each position's popcount. */
static int pack_filters(bconv *op, const uint32_t *filters, char *why, size_t why_size) {
  const int positions = op->filter_h * op->filter_w;
  const int words = positions * op->group_words;
  uint64_t *rows = kb_alloc((size_t)op->group_out * op->depth * sizeof(uint64_t));
  op->group_packed_words = kb_packed_filter_words(op->kernel->block, op->group_out, op->depth);
  op->packed = kb_alloc(op->group_packed_words * op->groups * sizeof(uint64_t));
  const int zero_padding = op->padding == KB_PADDING_SAME && op->pad_value == 0;
  if (zero_padding)
    op->filter_popcount = kb_alloc((size_t)positions * op->channels_out * sizeof(int32_t));
  if (rows == NULL || op->packed == NULL || (zero_padding && op->filter_popcount == NULL)) {
    kb_free(rows);
    snprintf(why, why_size, "out of memory for the packed filters");
    return -1;
  }
  for (int g = 0; g < op->groups; ++g) {
    for (int j = 0; j < op->group_out; ++j) {
      const uint32_t *filter = filters + (size_t)(g * op->group_out + j) * words;
      memcpy(rows + (size_t)j * op->depth, filter, (size_t)words * sizeof(uint32_t));
    }
    kb_pack_filters(op->kernel->block, rows, op->group_out, op->depth,
                    op->packed + (size_t)g * op->group_packed_words);
  }
  kb_free(rows);
  if (zero_padding)
    for (int o = 0; o < op->channels_out; ++o)
      for (int p = 0; p < positions; ++p) {
        const uint32_t *word = filters + ((size_t)o * positions + p) * op->group_words;
        int count = 0;
        for (int w = 0; w < op->group_words; ++w) count += __builtin_popcount(word[w]);
        op->filter_popcount[(size_t)p * op->channels_out + o] = count;
      }
  return 0;
}

static int check_vector(const kb_tensor *t, const char *what, int type, int length,
                        char *why, size_t why_size) {
  if (t == NULL || !t->constant || t->type != type || t->rank != 1 || t->dims[0] != length) {
    snprintf(why, why_size, "%s must be a constant %s vector of %d values", what,
             kb_type_name(type), length);
    return -1;
  }
  return 0;
}

static void destroy(void *self) {
  bconv *op = self;
  if (op == NULL) return;
  kb_free(op->packed);
  kb_free(op->filter_popcount);
  kb_output_transform_free(&op->transform);
  kb_free(op);
}

static void *create(const kb_node *node, const kb_kernel *kernel, char *why,
                    size_t why_size) {
  const kb_tensor *input = node->inputs[0], *filter = node->inputs[1];
  const kb_tensor *output = node->output;
  if (node->inputs_count != 5 || input == NULL || filter == NULL) {
    snprintf(why, why_size, "expects 5 inputs (input, filter, multiplier, bias, thresholds)");
    return NULL;
  }
  if (input->type != kTfLiteInt32 || input->rank != 4) {
    snprintf(why, why_size, "input must be 4D int32 (packed bits)");
    return NULL;
  }
  if (filter->type != kTfLiteInt32 || filter->rank != 4 || !filter->constant) {
    snprintf(why, why_size, "filter must be a constant 4D int32 tensor (packed bits)");
    return NULL;
  }
  bconv *op = kb_alloc(sizeof(bconv));
  if (op == NULL) {
    snprintf(why, why_size, "out of memory");
    return NULL;
  }
  op->kernel = kernel;
  op->channels_out = filter->dims[0];
  op->filter_h = filter->dims[1];
  op->filter_w = filter->dims[2];
  op->group_words = filter->dims[3];
  if (read_options(op, node->options, node->options_size, why, why_size) != 0 ||
      read_groups(op, why, why_size) != 0)
    goto fail;
  if (input->dims[3] != op->groups * op->group_words) {
    snprintf(why, why_size, "input has %d words per pixel, not %d for %d channels",
             input->dims[3], op->groups * op->group_words, op->channels_in);
    goto fail;
  }
  const int words = op->filter_h * op->filter_w * op->group_words;
  op->depth = (words + 1) / 2;
  const int positions = op->filter_h * op->filter_w;
  const kb_tensor *multiplier = node->inputs[2], *bias = node->inputs[3];
  const kb_tensor *thresholds = node->inputs[4];
  if (output->type == kTfLiteInt32) {
    if (check_vector(thresholds, "thresholds", kTfLiteInt32, op->channels_out, why,
                     why_size) != 0)
      goto fail;
  } else if (output->type == kTfLiteFloat32 || output->type == kTfLiteInt8) {
    if (check_vector(multiplier, "post_activation_multiplier", kTfLiteFloat32,
                     op->channels_out, why, why_size) != 0 ||
        check_vector(bias, "post_activation_bias", kTfLiteFloat32, op->channels_out, why,
                     why_size) != 0)
      goto fail;
  } else {
    snprintf(why, why_size, "output type %s is not supported (float32, int8 or int32)",
             kb_type_name(output->type));
    goto fail;
  }
  op->transform.kernel = kernel;
  op->transform.channels = op->channels_out;
  op->transform.group_in = op->group_in;
  if (kb_output_transform_init(&op->transform, output, positions * op->group_in,
                               multiplier ? multiplier->data : NULL, bias ? bias->data : NULL,
                               thresholds ? thresholds->data : NULL, why, why_size) != 0 ||
      pack_filters(op, filter->data, why, why_size) != 0)
    goto fail;
  return op;
fail:
  destroy(op);
  return NULL;
}

static int prepare(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                   size_t *scratch, char *why, size_t why_size) {
  bconv *op = self;
  const kb_tensor *input = inputs[0];
  if (input->rank != 4 || input->dims[3] != op->groups * op->group_words) {
    snprintf(why, why_size, "input must be 4D with %d words per pixel",
             op->groups * op->group_words);
    return -1;
  }
  op->batch = input->dims[0];
  op->in_h = input->dims[1];
  op->in_w = input->dims[2];
  op->out_h = kb_output_size(op->padding, op->in_h, op->filter_h, op->stride_h,
                             op->dilation_h);
  op->out_w = kb_output_size(op->padding, op->in_w, op->filter_w, op->stride_w,
                             op->dilation_w);
  if (op->out_h <= 0 || op->out_w <= 0) {
    snprintf(why, why_size, "a %dx%d VALID filter (dilation %dx%d) does not fit the %dx%d input",
             op->filter_h, op->filter_w, op->dilation_h, op->dilation_w, op->in_h, op->in_w);
    return -1;
  }
  op->pad_top = kb_padding_before(op->in_h, op->filter_h, op->stride_h, op->dilation_h,
                                  op->out_h);
  op->pad_left = kb_padding_before(op->in_w, op->filter_w, op->stride_w, op->dilation_w,
                                   op->out_w);
  output->rank = 4;
  output->dims[0] = op->batch;
  output->dims[1] = op->out_h;
  output->dims[2] = op->out_w;
  output->dims[3] = op->transform.type == kTfLiteInt32 ? kb_packed_words(op->channels_out)
                                                       : op->channels_out;

  op->pixels = op->batch * op->out_h * op->out_w;
  op->direct_rows = op->filter_h == 1 && op->filter_w == 1 && op->stride_h == 1 &&
                    op->stride_w == 1 && op->groups == 1 && op->group_words % 2 == 0;
  const int block = op->kernel->block;
  if (op->groups == 1) {
    op->tile_channels = op->channels_out < TILE_CHANNELS
                            ? (op->channels_out + 31) / 32 * 32 : TILE_CHANNELS;
    op->acc_stride = (size_t)op->tile_channels;
  } else { /* one tile of all channels; the last group's last block may run past them */
    op->tile_channels = (op->channels_out + 31) / 32 * 32;
    op->acc_stride = (size_t)((op->groups - 1) * op->group_out +
                              (op->group_out + block - 1) / block * block + 31) / 32 * 32;
  }
  op->channel_tiles = (op->channels_out + op->tile_channels - 1) / op->tile_channels;
  int tile_pixels = ROW_BYTES_PER_TILE / (op->depth * 8);
  tile_pixels = tile_pixels < 6 ? 6 : tile_pixels > MAX_TILE_PIXELS ? MAX_TILE_PIXELS
                                                                     : tile_pixels;
  op->tile_pixels = tile_pixels < op->pixels ? tile_pixels : op->pixels > 0 ? op->pixels : 1;
  const size_t row_bytes = (size_t)op->tile_pixels * op->depth * sizeof(uint64_t);
  *scratch = row_bytes + (size_t)op->tile_pixels * op->acc_stride * sizeof(int32_t);
  return 0;
}

static inline void copy_words(uint32_t *to, const uint32_t *from, int count) {
  for (int i = 0; i < count; ++i) to[i] = from[i];
}

static inline void zero_words(uint32_t *to, int count) {
  for (int i = 0; i < count; ++i) to[i] = 0;
}

/* The receptive fields of pixels [first, first + count) for group g, as rows of `depth`
 * 64-bit words; padded positions are 0 bits. A filter row that lies inside the input,
 * undilated and ungrouped, is one contiguous copy. */
static void gather_rows(const bconv *op, const uint32_t *input, int first, int count, int g,
                        uint64_t *rows) {
  const int in_words = op->groups * op->group_words, words = op->group_words;
  const int contiguous = op->dilation_w == 1 && op->groups == 1;
  for (int i = 0; i < count; ++i) {
    const int pixel = first + i;
    const int ox = pixel % op->out_w, oy = pixel / op->out_w % op->out_h;
    const int n = pixel / op->out_w / op->out_h;
    const int x0 = ox * op->stride_w - op->pad_left;
    uint32_t *row = (uint32_t *)(rows + (size_t)i * op->depth);
    for (int ky = 0; ky < op->filter_h; ++ky) {
      const int y = oy * op->stride_h - op->pad_top + ky * op->dilation_h;
      if (y < 0 || y >= op->in_h) {
        zero_words(row, op->filter_w * words);
        row += op->filter_w * words;
        continue;
      }
      const uint32_t *line = input + ((size_t)n * op->in_h + y) * op->in_w * in_words +
                             (size_t)g * words;
      if (contiguous && x0 >= 0 && x0 + op->filter_w <= op->in_w) {
        copy_words(row, line + (size_t)x0 * in_words, op->filter_w * words);
        row += op->filter_w * words;
        continue;
      }
      for (int kx = 0; kx < op->filter_w; ++kx, row += words) {
        const int x = x0 + kx * op->dilation_w;
        if (x >= 0 && x < op->in_w)
          copy_words(row, line + (size_t)x * in_words, words);
        else
          zero_words(row, words);
      }
    }
    if ((op->filter_h * op->filter_w * words) % 2) *row = 0;
  }
}

/* For zero padding: takes each padded position's filter popcount back from the counts of
 * channels [c0, c1) of one pixel, and returns how many positions are padded. */
static int unpad_counts(const bconv *op, int pixel, int c0, int c1, int32_t *counts) {
  const int ox = pixel % op->out_w, oy = pixel / op->out_w % op->out_h;
  int padded = 0;
  for (int ky = 0; ky < op->filter_h; ++ky) {
    const int y = oy * op->stride_h - op->pad_top + ky * op->dilation_h;
    for (int kx = 0; kx < op->filter_w; ++kx) {
      const int x = ox * op->stride_w - op->pad_left + kx * op->dilation_w;
      if (y >= 0 && y < op->in_h && x >= 0 && x < op->in_w) continue;
      const int32_t *popcount =
          op->filter_popcount + (size_t)(ky * op->filter_w + kx) * op->channels_out;
      for (int c = c0; c < c1; ++c) counts[c - c0] -= popcount[c];
      ++padded;
    }
  }
  return padded;
}

static void convolve_tile(void *context, int item, int worker) {
  const bconv_run *r = context;
  const bconv *op = r->op;
  const int first = item / op->channel_tiles * r->tile_pixels;
  const int count = first + r->tile_pixels <= op->pixels ? r->tile_pixels : op->pixels - first;
  const int c0 = item % op->channel_tiles * op->tile_channels;
  const int c1 = c0 + op->tile_channels < op->channels_out ? c0 + op->tile_channels
                                                           : op->channels_out;
  uint64_t *rows = kb_pool_scratch(r->pool, worker);
  int32_t *acc = (int32_t *)(rows + (size_t)op->tile_pixels * op->depth);
  const int block = op->kernel->block;
  for (int g = 0; g < op->groups; ++g) {
    kb_bgemm_args args = {.m = count, .depth = op->depth, .acc_stride = op->acc_stride};
    if (op->direct_rows) {
      args.rows = (const uint64_t *)(r->input + (size_t)first * op->group_words);
      args.row_stride = (size_t)op->group_words / 2;
    } else {
      gather_rows(op, r->input, first, count, g, rows);
      args.rows = rows;
      args.row_stride = (size_t)op->depth;
    }
    /* channels [c0, c1) of group 0, or all of group g (then c0 = 0) */
    const int local0 = op->groups == 1 ? c0 : 0;
    const int local1 = op->groups == 1 ? c1 : op->group_out;
    args.filters = op->packed + (size_t)g * op->group_packed_words +
                   (size_t)(local0 / block) * op->depth * block;
    args.blocks = (local1 - local0 + block - 1) / block;
    args.acc = acc + (size_t)g * op->group_out;
    op->kernel->bgemm(&args);
  }
  const int zero_padding = op->filter_popcount != NULL;
  for (int i = 0; i < count; ++i) {
    int32_t *counts = acc + (size_t)i * op->acc_stride;
    const int padded = zero_padding ? unpad_counts(op, first + i, c0, c1, counts) : 0;
    kb_output_transform_run(&op->transform, counts, c0, c1, padded, r->output,
                            (size_t)(first + i));
  }
}

/* Splits the pixels into tiles of at most op->tile_pixels, enough of them for every
 * thread to take several, and as many for each thread where that costs no smaller tiles:
 * the items of one op take about the same time, so an unequal count idles a thread. */
static void split_pixels(const bconv *op, int threads, bconv_run *r) {
  const int smallest = (op->pixels + op->tile_pixels - 1) / op->tile_pixels;
  int tiles = smallest;
  if (threads > 1) {
    const int wanted = (4 * threads + op->channel_tiles - 1) / op->channel_tiles;
    if (tiles < wanted) tiles = wanted;
    while ((tiles * op->channel_tiles) % threads) ++tiles;
    if (tiles > op->pixels) tiles = op->pixels;
  }
  r->tile_pixels = (op->pixels + tiles - 1) / tiles;
  r->pixel_tiles = (op->pixels + r->tile_pixels - 1) / r->tile_pixels;
}

static void run(void *self, const kb_tensor *const *inputs, kb_tensor *output,
                kb_pool *pool) {
  bconv_run r = {.op = self, .input = inputs[0]->data, .output = output->data, .pool = pool};
  const bconv *op = self;
  if (op->pixels == 0) return; /* an empty batch */
  split_pixels(op, kb_pool_threads(pool), &r);
  kb_pool_run(pool, r.pixel_tiles * op->channel_tiles, convolve_tile, &r);
}

const kb_op_type kb_op_bconv2d = {"LceBconv2d", create, prepare, run, destroy};
