/// Reference kernels of matmul: [..., M, K] x [..., K, N] -> [..., M, N],
/// either operand optionally transposed, batch dims broadcast, accumulated
/// in double; and of the fused matmul ops, which compute exactly what the
/// ops they replace compute one after another (their operands' leading dims
/// are rows of one matrix).
#include "ir/Activation.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"
#include "runtime/Bf16.h"
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

#include <algorithm>
#include <cmath>

namespace nnc {

namespace {

/// A row-major f32 matrix of `cols` columns, read as its transpose or not;
/// rounded to bf16 as it is read when `bf16` holds (precision=bf16).
struct Matrix {
  const float *data;
  int64_t cols;
  bool transposed;
  bool bf16 = false;
  float operator()(int64_t row, int64_t col) const {
    float x = transposed ? data[col * cols + row] : data[row * cols + col];
    return bf16 ? roundToBf16(x) : x;
  }
};

/// Whether the node reads its operands as bf16.
bool bf16Operands(const KernelCall &call) { return attr::bf16Operands(call.node); }

/// The tensor's last two axes as a matrix (its leading dims are more rows).
Matrix matrixOf(const KernelCall &call, const Tensor &t, bool transposed) {
  return {t.f32(), t.dim(t.rank() - 1), transposed, bf16Operands(call)};
}

/// The rows of a tensor seen as one matrix: every element but the last axis.
int64_t rowsOf(const Tensor &t) {
  int64_t last = t.dim(t.rank() - 1);
  return last == 0 ? 0 : t.numel() / last;
}

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
/// z is null where the activation is none.
std::vector<float> activationGradient(const KernelCall &call, const Tensor &dy, const Tensor *z) {
  Activation act = activationNamed(call.attr("activation").ident);
  double alpha = call.attr("alpha").number;
  std::vector<float> g(static_cast<size_t>(dy.numel()));
  for (int64_t i = 0; i < dy.numel(); ++i)
    g[static_cast<size_t>(i)] =
        act.none ? dy.f32()[i] : unaryGradScalar(act.grad, z->f32()[i], dy.f32()[i], alpha);
  return g;
}

/// matmul: one product per batch index of the result, each operand's
/// batch index broadcast (NumPy's matmul).
void batchedMatMul(KernelCall &call) {
  const Tensor &a = *call.inputs[0], &b = *call.inputs[1];
  Tensor &out = call.output;
  bool ta = call.attr("transpose_a").boolean, tb = call.attr("transpose_b").boolean;
  size_t r = out.rank();
  int64_t m = out.dim(r - 2), n = out.dim(r - 1), k = a.dim(a.rank() - (ta ? 2 : 1));
  std::vector<int64_t> batch(out.shape().begin(), out.shape().end() - 2);
  BroadcastIndex ia(std::vector<int64_t>(a.shape().begin(), a.shape().end() - 2), batch);
  BroadcastIndex ib(std::vector<int64_t>(b.shape().begin(), b.shape().end() - 2), batch);
  int64_t aSize = a.dim(a.rank() - 2) * a.dim(a.rank() - 1);
  int64_t bSize = b.dim(b.rank() - 2) * b.dim(b.rank() - 1);
  for (int64_t i = 0; i < elementCount(batch); ++i) {
    Matrix ma = matrixOf(call, a, ta), mb = matrixOf(call, b, tb);
    ma.data += ia(i) * aSize;
    mb.data += ib(i) * bSize;
    multiply(ma, mb, m, n, k, out.f32() + i * m * n);
  }
}

Status evalFusedMatMul(KernelCall &call) {
  const Tensor &a = *call.inputs[0];
  bool ta = call.attr("transpose_a").boolean;
  int64_t m = rowsOf(call.output), n = call.output.dim(call.output.rank() - 1);
  multiply(matrixOf(call, a, ta), matrixOf(call, *call.inputs[1], call.attr("transpose_b").boolean),
           m, n, ta ? a.dim(0) : a.dim(a.rank() - 1), call.output.f32());
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

/// The dims of an attention (q [..., Tq, D], k [..., Tk, D], v [..., Tk,
/// Dv], the mask [Tq, Tk] or per batch index).
struct AttentionDims {
  int64_t tq, d, tk, dv, batches;
  const Tensor *mask;
  bool maskPerBatch;
  double scale;
};

AttentionDims attentionDims(const KernelCall &call, size_t maskAt) {
  const Tensor &q = *call.inputs[0], &k = *call.inputs[1], &v = *call.inputs[2];
  int64_t r = q.rank();
  AttentionDims a{q.dim(r - 2),
                  q.dim(r - 1),
                  k.dim(r - 2),
                  v.dim(r - 1),
                  0,
                  nullptr,
                  false,
                  call.attr("scale").number};
  a.batches = q.numel() / (a.tq * a.d);
  a.mask = call.inputs.size() > maskAt ? call.inputs[maskAt] : nullptr;
  a.maskPerBatch = a.mask && a.mask->numel() != a.tq * a.tk;
  return a;
}

double dotProduct(const float *a, const float *b, int64_t n) {
  double acc = 0;
  for (int64_t c = 0; c < n; ++c)
    acc += static_cast<double>(a[c]) * b[c];
  return acc;
}

/// p[j] = softmax over the keys of row i of batch index b, in double: the
/// scores as the unfused ops round them (the dot product to f32, times the
/// scale, plus the mask).
void rowProbabilities(const KernelCall &call, const AttentionDims &a, int64_t b, int64_t i,
                      std::vector<double> &p) {
  const float *qi = call.inputs[0]->f32() + (b * a.tq + i) * a.d;
  double top = -INFINITY;
  for (int64_t j = 0; j < a.tk; ++j) {
    const float *kj = call.inputs[1]->f32() + (b * a.tk + j) * a.d;
    float s = static_cast<float>(static_cast<float>(dotProduct(qi, kj, a.d)) * a.scale);
    if (a.mask)
      s += a.mask->f32()[(a.maskPerBatch ? b * a.tq * a.tk : 0) + i * a.tk + j];
    p[static_cast<size_t>(j)] = s;
    top = std::max(top, static_cast<double>(s));
  }
  double total = 0;
  for (double &e : p)
    total += e = std::exp(e - top);
  for (double &e : p)
    e /= total;
}

/// fused_attention: per batch and query row, the probabilities (rounded to
/// f32, as softmax stores them) and the weighted sum of v.
Status evalFusedAttention(KernelCall &call) {
  AttentionDims a = attentionDims(call, 3);
  const float *v = call.inputs[2]->f32();
  std::vector<double> p(static_cast<size_t>(a.tk));
  for (int64_t b = 0; b < a.batches; ++b)
    for (int64_t i = 0; i < a.tq; ++i) {
      rowProbabilities(call, a, b, i, p);
      float *out = call.output.f32() + (b * a.tq + i) * a.dv;
      for (int64_t c = 0; c < a.dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < a.tk; ++j)
          acc += static_cast<double>(static_cast<float>(p[static_cast<size_t>(j)])) *
                 v[(b * a.tk + j) * a.dv + c];
        out[c] = static_cast<float>(acc);
      }
    }
  return Ok{};
}

/// fused_attention_grad (q, k, v, o, do[, mask], wrt=): per batch index,
/// every row's probabilities P, dP = do v^T and dS = P (dP - do . o) in
/// double, then dq = dS k scale, dk = dS^T q scale or dv = P^T do.
Status evalFusedAttentionGrad(KernelCall &call) {
  AttentionDims a = attentionDims(call, 5);
  const float *q = call.inputs[0]->f32(), *k = call.inputs[1]->f32(), *v = call.inputs[2]->f32();
  const float *o = call.inputs[3]->f32(), *dout = call.inputs[4]->f32();
  const std::string &wrt = call.attr("wrt").ident;
  int64_t rows = wrt == "q" ? a.tq : a.tk, width = wrt == "v" ? a.dv : a.d;
  std::vector<double> p(static_cast<size_t>(a.tk));
  std::vector<double> acc(static_cast<size_t>(rows * width));
  for (int64_t b = 0; b < a.batches; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t i = 0; i < a.tq; ++i) {
      const float *qi = q + (b * a.tq + i) * a.d, *doi = dout + (b * a.tq + i) * a.dv;
      rowProbabilities(call, a, b, i, p);
      double rowD = dotProduct(doi, o + (b * a.tq + i) * a.dv, a.dv);
      for (int64_t j = 0; j < a.tk; ++j) {
        double pj = p[static_cast<size_t>(j)];
        double dp = dotProduct(doi, v + (b * a.tk + j) * a.dv, a.dv);
        double dsj = pj * (dp - rowD) * a.scale;
        const float *kj = k + (b * a.tk + j) * a.d;
        for (int64_t c = 0; c < width; ++c) {
          if (wrt == "q")
            acc[static_cast<size_t>(i * width + c)] += dsj * kj[c];
          else if (wrt == "k")
            acc[static_cast<size_t>(j * width + c)] += dsj * qi[c];
          else
            acc[static_cast<size_t>(j * width + c)] += pj * doi[c];
        }
      }
    }
    float *out = call.output.f32() + b * rows * width;
    for (size_t e = 0; e < acc.size(); ++e)
      out[e] = static_cast<float>(acc[e]);
  }
  return Ok{};
}

} // namespace

Status evalMatMul(KernelCall &call) {
  const Tensor &out = call.output;
  switch (call.node.op) {
  case OpKind::MatMul:
    batchedMatMul(call);
    return Ok{};
  case OpKind::FusedMatMul:
    return evalFusedMatMul(call);
  case OpKind::FusedAttention:
    return evalFusedAttention(call);
  case OpKind::FusedAttentionGrad:
    return evalFusedAttentionGrad(call);
  case OpKind::FusedMatMulGradInput: { // (dy, z, w): g op(w)
    const Tensor &dy = *call.inputs[0];
    int64_t n = dy.dim(dy.rank() - 1);
    std::vector<float> g = activationGradient(call, dy, call.inputs[1]);
    multiply({g.data(), n, false, bf16Operands(call)},
             matrixOf(call, *call.inputs[2], call.attr("transpose_b").boolean), rowsOf(out),
             out.dim(out.rank() - 1), n, call.output.f32());
    return Ok{};
  }
  case OpKind::FusedMatMulGradWeight: { // (x, dy[, z]): op(x) g over every row
    const Tensor &x = *call.inputs[0], &dy = *call.inputs[1];
    bool ta = call.attr("transpose_a").boolean;
    std::vector<float> g =
        activationGradient(call, dy, call.inputs.size() > 2 ? call.inputs[2] : nullptr);
    multiply(matrixOf(call, x, ta), {g.data(), dy.dim(dy.rank() - 1), false, bf16Operands(call)},
             out.dim(0), out.dim(1), ta ? rowsOf(x) : x.dim(1), call.output.f32());
    return Ok{};
  }
  case OpKind::FusedMatMulGradBias: { // (dy, z): column sums of g
    const Tensor &dy = *call.inputs[0];
    std::vector<float> g = activationGradient(call, dy, call.inputs[1]);
    int64_t rows = rowsOf(dy), n = dy.dim(dy.rank() - 1);
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
