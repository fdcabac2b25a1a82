/* Every allocation the runtime owns goes through here: 64-byte aligned (a cache line, and
 * the widest vector load), and counted, so that a test can check that creating,
 * resizing and destroying interpreters leaves nothing behind
 * (keras_bnn_runtime_live_allocations). */
#ifndef KERAS_BNN_MEMORY_H
#define KERAS_BNN_MEMORY_H

#include <stddef.h>

#define KB_ALIGNMENT 64

/* A zero-filled block of `bytes` (any size, 0 included), or NULL when out of memory. */
void *kb_alloc(size_t bytes);

/* Frees a block of kb_alloc; NULL is fine. */
void kb_free(void *block);

/* Blocks and bytes allocated and not yet freed, over the whole process. */
long kb_live_blocks(void);
long kb_live_bytes(void);

#endif /* KERAS_BNN_MEMORY_H */
