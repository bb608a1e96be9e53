/// Reference kernels of the element-wise ops: unary activations and
/// broadcasting binary arithmetic (f32, and i32 for add, sub, mul, eq), and
/// their gradient ops.
#include "ir/ElementwiseProgram.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

#include <cassert>
#include <cmath>

namespace nnc {

namespace {

/// PyTorch's softplus threshold (beta = 1): above it, softplus(x) = x.
constexpr double kSoftplusThreshold = 20.0;

/// One unary op on one element, in double.
double unaryOp(OpKind op, double x, double alpha) {
  switch (op) {
  case OpKind::Neg:
    return -x;
  case OpKind::Abs:
    return std::fabs(x);
  case OpKind::Exp:
    return std::exp(x);
  case OpKind::Log:
    return std::log(x);
  case OpKind::Sqrt:
    return std::sqrt(x);
  case OpKind::Sigmoid:
    return 1.0 / (1.0 + std::exp(-x));
  case OpKind::Tanh:
    return std::tanh(x);
  case OpKind::Relu:
    return std::isnan(x) ? x : (x > 0 ? x : 0.0);
  case OpKind::LeakyRelu:
    return x > 0 ? x : alpha * x; // NaN: alpha * NaN is NaN
  case OpKind::Gelu:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case OpKind::Softplus:
    return x > kSoftplusThreshold ? x : std::log1p(std::exp(x));
  case OpKind::Step:
    return x >= 0 ? 1.0 : 0.0; // as (x >= 0).float(): NaN gives 0
  case OpKind::Erf:
    return std::erf(x);
  default:
    break;
  }
  NNC_UNREACHABLE("{}: not a unary element-wise op", opInfo(op).name);
}

/// One f32 binary op on one pair of elements, in double (exact for the
/// arithmetic ops once rounded to f32).
double binaryOpF32(OpKind op, double a, double b) {
  switch (op) {
  case OpKind::Add:
    return a + b;
  case OpKind::Sub:
    return a - b;
  case OpKind::Mul:
    return a * b;
  case OpKind::Div:
    return a / b;
  case OpKind::Maximum:
    return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b);
  case OpKind::Minimum:
    return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b);
  case OpKind::Eq:
    return a == b ? 1.0 : 0.0;
  default:
    break;
  }
  NNC_UNREACHABLE("{}: not a binary element-wise op", opInfo(op).name);
}

/// One i32 binary op; add, sub and mul wrap around as two's complement.
double binaryOpI32(OpKind op, int32_t a, int32_t b) {
  uint32_t ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
  switch (op) {
  case OpKind::Add:
    return static_cast<int32_t>(ua + ub);
  case OpKind::Sub:
    return static_cast<int32_t>(ua - ub);
  case OpKind::Mul:
    return static_cast<int32_t>(ua * ub);
  case OpKind::Eq:
    return a == b ? 1.0 : 0.0;
  default:
    break;
  }
  NNC_UNREACHABLE("{}: op does not take i32 operands", opInfo(op).name);
}

void evalUnary(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  double alpha = call.node.op == OpKind::LeakyRelu ? call.attr("alpha").number : 0.0;
  float *out = call.output.f32();
  for (int64_t i = 0; i < x.numel(); ++i)
    out[i] = static_cast<float>(unaryOp(call.node.op, x.f32()[i], alpha));
}

void evalBinary(KernelCall &call) {
  const Tensor &a = *call.inputs[0];
  const Tensor &b = *call.inputs[1];
  Tensor &out = call.output;
  BroadcastIndex ia(a.shape(), out.shape());
  BroadcastIndex ib(b.shape(), out.shape());
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t ja = ia(i), jb = ib(i);
    double r = a.dtype() == DType::I32 ? binaryOpI32(call.node.op, a.i32()[ja], b.i32()[jb])
                                       : binaryOpF32(call.node.op, a.f32()[ja], b.f32()[jb]);
    out.set(i, r);
  }
}

/// sign(x) with sign(0) = 0 (and NaN kept).
double signOf(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }

/// The derivative of the exact (erf) gelu: Phi(x) + x phi(x).
double geluDerivative(double x) {
  const double kInvSqrt2 = 0.70710678118654752440;
  const double kInvSqrt2Pi = 0.39894228040143267794;
  return 0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
}

/// One (forward value, dy) gradient op on one element, in double.
double unaryGradOp(OpKind op, double v, double dy, double alpha) {
  switch (op) {
  case OpKind::SigmoidGrad: // v = y
    return dy * v * (1.0 - v);
  case OpKind::TanhGrad: // v = y
    return dy * (1.0 - v * v);
  case OpKind::ReluGrad: // v = x
    return std::isnan(v) ? v : (v > 0 ? dy : 0.0);
  case OpKind::LeakyReluGrad:
    return std::isnan(v) ? v : (v > 0 ? dy : dy * alpha);
  case OpKind::GeluGrad:
    return dy * geluDerivative(v);
  case OpKind::AbsGrad:
    return dy * signOf(v);
  default:
    break;
  }
  NNC_UNREACHABLE("{}: not a unary gradient op", opInfo(op).name);
}

/// sigmoid_grad ... abs_grad: (forward value, dy), one shape.
void evalUnaryGrad(KernelCall &call) {
  const Tensor &v = *call.inputs[0];
  const Tensor &dy = *call.inputs[1];
  double alpha = call.node.op == OpKind::LeakyReluGrad ? call.attr("alpha").number : 0.0;
  Tensor &out = call.output;
  BroadcastIndex iv(v.shape(), out.shape());
  BroadcastIndex id(dy.shape(), out.shape());
  for (int64_t i = 0; i < out.numel(); ++i)
    out.f32()[i] =
        static_cast<float>(unaryGradOp(call.node.op, v.f32()[iv(i)], dy.f32()[id(i)], alpha));
}

/// maximum_grad / minimum_grad (a, b, dy): d/da at dy's (the broadcast)
/// shape; where a == b the gradient is split in half, as PyTorch does.
void evalMinMaxGrad(KernelCall &call) {
  const Tensor &a = *call.inputs[0];
  const Tensor &b = *call.inputs[1];
  const Tensor &dy = *call.inputs[2];
  bool isMax = call.node.op == OpKind::MaximumGrad;
  Tensor &out = call.output;
  BroadcastIndex ia(a.shape(), out.shape());
  BroadcastIndex ib(b.shape(), out.shape());
  BroadcastIndex id(dy.shape(), out.shape());
  for (int64_t i = 0; i < out.numel(); ++i) {
    double x = a.f32()[ia(i)], y = b.f32()[ib(i)], g = dy.f32()[id(i)];
    double r;
    if (x == y)
      r = g / 2;
    else
      r = (isMax ? x > y : x < y) ? g : 0.0;
    out.f32()[i] = static_cast<float>(r);
  }
}

/// One element-wise op of any kind on scalars, rounded to f32 as its own
/// kernel stores it (for fused_elementwise programs).
float applyScalar(OpKind op, const Attrs &attrs, const std::vector<float> &args) {
  double alpha = opInfo(op).attrIndex("alpha") >= 0 ? attr::alpha(op, attrs) : 0.0;
  const OpInfo &info = opInfo(op);
  if (op == OpKind::MaximumGrad || op == OpKind::MinimumGrad) {
    double x = args[0], y = args[1], g = args[2];
    bool wins = op == OpKind::MaximumGrad ? x > y : x < y;
    return static_cast<float>(x == y ? g / 2 : (wins ? g : 0.0));
  }
  if (info.has(kGradientOp))
    return static_cast<float>(unaryGradOp(op, args[0], args[1], alpha));
  if (info.has(kUnary))
    return static_cast<float>(unaryOp(op, args[0], alpha));
  return static_cast<float>(binaryOpF32(op, args[0], args[1]));
}

/// fused_elementwise: the program, element by element of the result.
Status evalFusedElementwise(KernelCall &call) {
  std::string why;
  std::optional<ElementwiseProgram> program =
      decodeProgram(call.attr("program"), call.inputs.size(), why);
  if (!program)
    return Status::fail("fused_elementwise: {}", why);
  Tensor &out = call.output;
  std::vector<BroadcastIndex> index;
  for (const Tensor *t : call.inputs)
    index.emplace_back(t->shape(), out.shape());
  std::vector<float> values(call.inputs.size() + program->size());
  std::vector<float> args;
  for (int64_t i = 0; i < out.numel(); ++i) {
    for (size_t k = 0; k < call.inputs.size(); ++k)
      values[k] = call.inputs[k]->f32()[index[k](i)];
    for (size_t j = 0; j < program->size(); ++j) {
      const ElementwiseInstruction &inst = (*program)[j];
      args.clear();
      for (int k : inst.operands)
        args.push_back(values[static_cast<size_t>(k)]);
      values[call.inputs.size() + j] = applyScalar(inst.op, inst.attrs, args);
    }
    out.f32()[i] = values.back();
  }
  return Ok{};
}

} // namespace

float unaryScalar(OpKind op, float x, double alpha) {
  return static_cast<float>(unaryOp(op, x, alpha));
}

float unaryGradScalar(OpKind op, float v, float dy, double alpha) {
  return static_cast<float>(unaryGradOp(op, v, dy, alpha));
}

Status evalElementwise(KernelCall &call) {
  const OpInfo &info = call.node.info();
  switch (call.node.op) {
  case OpKind::SigmoidGrad:
  case OpKind::TanhGrad:
  case OpKind::ReluGrad:
  case OpKind::LeakyReluGrad:
  case OpKind::GeluGrad:
  case OpKind::AbsGrad:
    evalUnaryGrad(call);
    return Ok{};
  case OpKind::MaximumGrad:
  case OpKind::MinimumGrad:
    evalMinMaxGrad(call);
    return Ok{};
  case OpKind::FusedElementwise:
    return evalFusedElementwise(call);
  default:
    break;
  }
  if (info.has(kUnary))
    evalUnary(call);
  else if (info.has(kBinary))
    evalBinary(call);
  else
    NNC_UNHANDLED_OP(call.node, "interpreter kernel");
  return Ok{};
}

} // namespace nnc
