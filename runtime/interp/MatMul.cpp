/// Reference kernel of matmul: [M, K] x [K, N] -> [M, N], either operand
/// optionally transposed, accumulated in double.
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

namespace nnc {

namespace {

/// Element (row, col) of the logical (possibly transposed) matrix `t`.
float elementOf(const Tensor &t, bool transposed, int64_t row, int64_t col) {
  int64_t cols = t.dim(1);
  return transposed ? t.f32()[col * cols + row] : t.f32()[row * cols + col];
}

} // namespace

Status evalMatMul(KernelCall &call) {
  if (call.node.op != OpKind::MatMul)
    return noKernel(call);
  const Tensor &a = *call.inputs[0];
  const Tensor &b = *call.inputs[1];
  bool ta = call.attr("transpose_a").boolean;
  bool tb = call.attr("transpose_b").boolean;
  int64_t m = call.output.dim(0), n = call.output.dim(1);
  int64_t k = ta ? a.dim(0) : a.dim(1);
  float *out = call.output.f32();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(elementOf(a, ta, i, p)) * elementOf(b, tb, p, j);
      out[i * n + j] = static_cast<float>(acc);
    }
  return Ok{};
}

} // namespace nnc
