/// nnc models out to ONNX: a model's inference graph (what its outputs
/// need, as written: batchnorm and dropout in inference mode) with the
/// values of its params, states and consts, as an ONNX ModelProto of opset
/// 17 that ONNX's own checker and strict shape inference accept, and that
/// imports back (frontend/onnx/OnnxImport.h) to the same outputs.
///
/// Each nnc op becomes the ONNX ops it stands for (IR.md section 7): most
/// one for one; gelu in its erf form (ONNX has Gelu from opset 20), step as
/// a comparison, eq and argmax followed by a Cast to nnc's dtype, a reshape
/// whose shape names dims reads them with Shape and Gather. Fused ops are
/// written as the ops they fuse. Losses and the training step's ops are not
/// exported (an inference graph has none): an error naming the op.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <functional>
#include <string>

namespace nnc {

/// The tensor of a param, state or const of the graph.
using ValueTensors = std::function<Tensor(ValueId)>;

/// The ONNX model (serialized ModelProto bytes) of `g`'s outputs, with the
/// declarations' values from `values`. Checked with ONNX's checker and
/// strict shape inference before it is returned.
Result<std::string> exportOnnx(const Graph &g, const ValueTensors &values);

} // namespace nnc
