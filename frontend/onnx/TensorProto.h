/// ONNX tensors (TensorProto) and nnc's: the values of an initializer, a
/// Constant or a test-data file, decoded with every size checked first.
#pragma once

#include "runtime/Tensor.h"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::onnximport {

/// The values of a TensorProto: `floats` for FLOAT, `ints` for INT64,
/// INT32 and BOOL (0 or 1). False, with the reason in `why`, for other
/// element types, external data, or data that does not match the dims.
bool decodeTensorProto(const onnx::TensorProto &t, std::vector<float> &floats,
                       std::vector<int64_t> &ints, std::string &why);

/// A TensorProto as an nnc Tensor: FLOAT as f32; INT64, INT32 and BOOL as
/// i32 (each value checked to fit). False, with the reason, otherwise.
bool tensorFromProto(const onnx::TensorProto &t, Tensor &out, std::string &why);

} // namespace nnc::onnximport
