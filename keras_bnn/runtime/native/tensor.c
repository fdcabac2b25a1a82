/* Facts about the tensor types the LCE ops read and write (see tensor.h). */
#include "tensor.h"

#include "tflite_abi.h"

size_t kb_type_size(int type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
      return 4;
    case kTfLiteInt8:
    case kTfLiteUInt8:
    case kTfLiteBool:
      return 1;
    default:
      return 0;
  }
}

const char *kb_type_name(int type) {
  switch (type) {
    case kTfLiteFloat32:
      return "float32";
    case kTfLiteInt32:
      return "int32";
    case kTfLiteInt8:
      return "int8";
    case kTfLiteUInt8:
      return "uint8";
    case kTfLiteBool:
      return "bool";
    case kTfLiteInt64:
      return "int64";
    case kTfLiteInt16:
      return "int16";
    default:
      return "an unsupported type";
  }
}
