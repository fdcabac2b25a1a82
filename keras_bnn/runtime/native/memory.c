/* Counted, aligned allocation (see memory.h). Each block starts with a header one
 * alignment unit long that records its size, so that kb_free can count it out. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */

#include "memory.h"

#include <stdlib.h>
#include <string.h>

static long live_blocks;
static long live_bytes;

void *kb_alloc(size_t bytes) {
  if (bytes > (size_t)-1 - KB_ALIGNMENT) return NULL;
  void *base = NULL;
  if (posix_memalign(&base, KB_ALIGNMENT, KB_ALIGNMENT + bytes) != 0) return NULL;
  memset(base, 0, KB_ALIGNMENT + bytes);
  *(size_t *)base = bytes;
  __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&live_bytes, (long)bytes, __ATOMIC_RELAXED);
  return (char *)base + KB_ALIGNMENT;
}

void kb_free(void *block) {
  if (block == NULL) return;
  char *base = (char *)block - KB_ALIGNMENT;
  __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&live_bytes, (long)*(size_t *)base, __ATOMIC_RELAXED);
  free(base);
}

long kb_live_blocks(void) { return __atomic_load_n(&live_blocks, __ATOMIC_RELAXED); }

long kb_live_bytes(void) { return __atomic_load_n(&live_bytes, __ATOMIC_RELAXED); }
