/// Reference kernel of layernorm over the last axis: biased variance, eps
/// inside the square root, then gamma and beta.
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

#include <cmath>

namespace nnc {

Status evalNorm(KernelCall &call) {
  if (call.node.op != OpKind::LayerNorm)
    return noKernel(call);
  const Tensor &x = *call.inputs[0];
  const float *gamma = call.inputs[1]->f32();
  const float *beta = call.inputs[2]->f32();
  double eps = call.attr("eps").number;
  int64_t width = x.dim(x.rank() - 1);
  if (width == 0)
    return Ok{};
  for (int64_t row = 0; row < x.numel() / width; ++row) {
    const float *in = x.f32() + row * width;
    float *out = call.output.f32() + row * width;
    double mean = 0;
    for (int64_t i = 0; i < width; ++i)
      mean += in[i];
    mean /= static_cast<double>(width);
    double var = 0;
    for (int64_t i = 0; i < width; ++i)
      var += (in[i] - mean) * (in[i] - mean);
    var /= static_cast<double>(width);
    double invStd = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < width; ++i)
      out[i] = static_cast<float>((in[i] - mean) * invStd * gamma[i] + beta[i]);
  }
  return Ok{};
}

} // namespace nnc
