/// Reference kernels of matmul: [M, K] x [K, N] -> [M, N], either operand
/// optionally transposed, accumulated in double; and of the fused matmul ops,
/// which compute exactly what the ops they replace compute one after another.
#include "ir/Activation.h"
#include "ir/InternalError.h"
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

namespace nnc {

namespace {

/// A row-major f32 matrix of `cols` columns, read as its transpose or not.
struct Matrix {
  const float *data;
  int64_t cols;
  bool transposed;
  float operator()(int64_t row, int64_t col) const {
    return transposed ? data[col * cols + row] : data[row * cols + col];
  }
};

Matrix matrixOf(const Tensor &t, bool transposed) { return {t.f32(), t.dim(1), transposed}; }

/// out[m, n] = a b, accumulated in double.
void multiply(const Matrix &a, const Matrix &b, int64_t m, int64_t n, int64_t k, float *out) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(a(i, p)) * b(p, j);
      out[i * n + j] = static_cast<float>(acc);
    }
}

/// g = the activation's gradient op on (z, dy), element by element.
std::vector<float> activationGradient(const KernelCall &call, const Tensor &dy, const Tensor &z) {
  Activation act = activationNamed(call.attr("activation").ident);
  double alpha = call.attr("alpha").number;
  std::vector<float> g(static_cast<size_t>(dy.numel()));
  for (int64_t i = 0; i < dy.numel(); ++i)
    g[static_cast<size_t>(i)] =
        act.none ? dy.f32()[i] : unaryGradScalar(act.grad, z.f32()[i], dy.f32()[i], alpha);
  return g;
}

Status evalFusedMatMul(KernelCall &call) {
  const Tensor &a = *call.inputs[0];
  bool ta = call.attr("transpose_a").boolean;
  int64_t m = call.output.dim(0), n = call.output.dim(1);
  multiply(matrixOf(a, ta), matrixOf(*call.inputs[1], call.attr("transpose_b").boolean), m, n,
           ta ? a.dim(0) : a.dim(1), call.output.f32());
  Activation act = activationNamed(call.attr("activation").ident);
  double alpha = call.attr("alpha").number;
  const float *bias = call.inputs.size() > 2 ? call.inputs[2]->f32() : nullptr;
  float *out = call.output.f32();
  for (int64_t i = 0; i < m * n; ++i) {
    float v = bias ? out[i] + bias[i % n] : out[i];
    out[i] = act.none ? v : unaryScalar(act.forward, v, alpha);
  }
  return Ok{};
}

} // namespace

Status evalMatMul(KernelCall &call) {
  const Tensor &out = call.output;
  switch (call.node.op) {
  case OpKind::MatMul: {
    const Tensor &a = *call.inputs[0];
    bool ta = call.attr("transpose_a").boolean;
    multiply(matrixOf(a, ta), matrixOf(*call.inputs[1], call.attr("transpose_b").boolean),
             out.dim(0), out.dim(1), ta ? a.dim(0) : a.dim(1), call.output.f32());
    return Ok{};
  }
  case OpKind::FusedMatMul:
    return evalFusedMatMul(call);
  case OpKind::FusedMatMulGradInput: { // (dy, z, w): g op(w)
    const Tensor &dy = *call.inputs[0];
    std::vector<float> g = activationGradient(call, dy, *call.inputs[1]);
    multiply({g.data(), dy.dim(1), false},
             matrixOf(*call.inputs[2], call.attr("transpose_b").boolean), out.dim(0), out.dim(1),
             dy.dim(1), call.output.f32());
    return Ok{};
  }
  case OpKind::FusedMatMulGradWeight: { // (x, dy, z): op(x) g
    const Tensor &x = *call.inputs[0], &dy = *call.inputs[1];
    bool ta = call.attr("transpose_a").boolean;
    std::vector<float> g = activationGradient(call, dy, *call.inputs[2]);
    multiply(matrixOf(x, ta), {g.data(), dy.dim(1), false}, out.dim(0), out.dim(1),
             ta ? x.dim(0) : x.dim(1), call.output.f32());
    return Ok{};
  }
  case OpKind::FusedMatMulGradBias: { // (dy, z): column sums of g
    const Tensor &dy = *call.inputs[0];
    std::vector<float> g = activationGradient(call, dy, *call.inputs[1]);
    int64_t rows = dy.dim(0), n = dy.dim(1);
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < rows; ++i)
        acc += g[static_cast<size_t>(i * n + j)];
      call.output.f32()[j] = static_cast<float>(acc);
    }
    return Ok{};
  }
  default:
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  }
}

} // namespace nnc
