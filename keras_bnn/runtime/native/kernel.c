/* The three kernel sets and the run-time choice between them (see kernel.h). GCC's CPU
 * detection also checks that the operating system saves the AVX and AVX-512 registers. */
#include "kernel.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const kb_kernel kb_kernel_avx512 = {
    "avx512", KB_BGEMM_BLOCK_AVX512, KB_BGEMM_TILE_AVX512,
    kb_bgemm_avx512, kb_bgemm_peak_avx512,
    kb_pack_floats_avx512, kb_pack_int8s_avx2, /* every AVX-512 CPU has AVX2 */
    kb_floats_from_counts_avx512, kb_int8s_from_counts_avx512};
const kb_kernel kb_kernel_avx2 = {
    "avx2", KB_BGEMM_BLOCK_AVX2, KB_BGEMM_TILE_AVX2,
    kb_bgemm_avx2, kb_bgemm_peak_avx2,
    kb_pack_floats_avx2, kb_pack_int8s_avx2,
    kb_floats_from_counts_avx2, kb_int8s_from_counts_avx2};
const kb_kernel kb_kernel_portable = {
    "portable", KB_BGEMM_BLOCK_PORTABLE, KB_BGEMM_TILE_PORTABLE,
    kb_bgemm_portable, kb_bgemm_peak_portable,
    kb_pack_floats_portable, kb_pack_int8s_portable,
    kb_floats_from_counts_portable, kb_int8s_from_counts_portable};

static bool has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
}

static bool has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

const kb_kernel *kb_kernel_named(const char *name, char *why, size_t why_size) {
  if (name == NULL || strcmp(name, "auto") == 0)
    return has_avx512() ? &kb_kernel_avx512 : has_avx2() ? &kb_kernel_avx2 : &kb_kernel_portable;
  if (strcmp(name, "portable") == 0) return &kb_kernel_portable;
  if (strcmp(name, "avx2") == 0) {
    if (has_avx2()) return &kb_kernel_avx2;
    snprintf(why, why_size, "kernel 'avx2' needs AVX2, which this CPU lacks; use 'auto'");
    return NULL;
  }
  if (strcmp(name, "avx512") == 0) {
    if (has_avx512()) return &kb_kernel_avx512;
    snprintf(why, why_size,
             "kernel 'avx512' needs AVX-512 with VPOPCNTDQ, which this CPU lacks; use 'auto'");
    return NULL;
  }
  snprintf(why, why_size, "unknown kernel '%s': use 'auto', 'avx512', 'avx2' or 'portable'",
           name);
  return NULL;
}
