/* The floating-point mode the ops run in. LCE's interpreter on x86 runs its ops with
 * denormals flushed to zero, inputs (DAZ) and results (FTZ), as TensorFlow does; the
 * runtime does the same so that its results are LCE's to the bit: -1e-40 binarizes to +1,
 * and a denormal product in the output transform becomes a signed zero. */
#ifndef KERAS_BNN_DENORMALS_H
#define KERAS_BNN_DENORMALS_H

#include <xmmintrin.h>

enum { KB_MXCSR_DAZ = 0x0040, KB_MXCSR_FTZ = 0x8000 };

/* Switches flushing on for this thread; returns the mode to restore. */
static inline unsigned kb_flush_denormals(void) {
  const unsigned previous = _mm_getcsr();
  _mm_setcsr(previous | KB_MXCSR_DAZ | KB_MXCSR_FTZ);
  return previous;
}

static inline void kb_restore_float_mode(unsigned previous) { _mm_setcsr(previous); }

#endif /* KERAS_BNN_DENORMALS_H */
