/// Reference kernels of the element-wise ops: unary activations, broadcasting
/// binary arithmetic (f32, and i32 for add, sub, mul, eq), where, and their
/// gradient ops. Every op is one scalar function of its operands' elements
/// (scalarOp), evaluated in double and rounded to f32 as its kernel stores
/// it; one loop broadcasts the operands for all of them.
#include "ir/DropoutMask.h"
#include "ir/ElementwiseProgram.h"
#include "ir/NodeAttrs.h"
#include "ir/InternalError.h"
#include "runtime/Interpreter.h"
#include "runtime/interp/Common.h"

#include <cmath>

namespace nnc {

namespace {

/// PyTorch's softplus threshold (beta = 1): above it, softplus(x) = x.
constexpr double kSoftplusThreshold = 20.0;

/// clip's bounds, as torch.clamp: min(max(x, lo), hi), NaN kept.
double clipValue(double x, std::optional<double> lo, std::optional<double> hi) {
  if (std::isnan(x))
    return x;
  if (lo && x < *lo)
    x = *lo;
  if (hi && x > *hi)
    x = *hi;
  return x;
}

/// One unary op on one element, in double.
double unaryOp(OpKind op, const Attrs &attrs, double x) {
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
    return x > 0 ? x : attr::alpha(op, attrs) * x; // NaN: alpha * NaN is NaN
  case OpKind::Gelu:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case OpKind::Softplus:
    return x > kSoftplusThreshold ? x : std::log1p(std::exp(x));
  case OpKind::Step:
    return x >= 0 ? 1.0 : 0.0; // as (x >= 0).float(): NaN gives 0
  case OpKind::Erf:
    return std::erf(x);
  case OpKind::Sin:
    return std::sin(x);
  case OpKind::Cos:
    return std::cos(x);
  case OpKind::Clip:
    return clipValue(x, attr::clipMin(op, attrs), attr::clipMax(op, attrs));
  case OpKind::Dropout: // inference mode
    return x;
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
  case OpKind::Pow:
    return std::pow(a, b);
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

/// sign(x) with sign(0) = 0 (and NaN kept).
double signOf(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }

/// The derivative of the exact (erf) gelu: Phi(x) + x phi(x).
double geluDerivative(double x) {
  const double kInvSqrt2 = 0.70710678118654752440;
  const double kInvSqrt2Pi = 0.39894228040143267794;
  return 0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
}

/// One (forward value, dy) gradient op on one element, in double.
double unaryGradOp(OpKind op, const Attrs &attrs, double v, double dy) {
  switch (op) {
  case OpKind::SigmoidGrad: // v = y
    return dy * v * (1.0 - v);
  case OpKind::TanhGrad: // v = y
    return dy * (1.0 - v * v);
  // As PyTorch's threshold and leaky_relu backward: a NaN x is not <= 0
  // (relu passes dy) and not > 0 (leaky_relu scales dy).
  case OpKind::ReluGrad: // v = x (or relu's output)
    return v <= 0 ? 0.0 : dy;
  case OpKind::LeakyReluGrad:
    return v > 0 ? dy : dy * attr::alpha(op, attrs);
  case OpKind::GeluGrad:
    return dy * geluDerivative(v);
  case OpKind::AbsGrad:
    return dy * signOf(v);
  case OpKind::ClipGrad: { // as torch.clamp: 1 where min <= x <= max (NaN x: 0)
    std::optional<double> lo = attr::clipMin(op, attrs), hi = attr::clipMax(op, attrs);
    bool inside = !std::isnan(v) && (!lo || v >= *lo) && (!hi || v <= *hi);
    return inside ? dy : 0.0;
  }
  default:
    break;
  }
  NNC_UNREACHABLE("{}: not a unary gradient op", opInfo(op).name);
}

/// The gradient ops of three operands (a, b, dy).
double ternaryGradOp(OpKind op, double a, double b, double dy) {
  switch (op) {
  case OpKind::MaximumGrad: // d/da; ties split in half, as PyTorch
  case OpKind::MinimumGrad:
    if (a == b)
      return dy / 2;
    return (op == OpKind::MaximumGrad ? a > b : a < b) ? dy : 0.0;
  case OpKind::PowBaseGrad: // as PyTorch: 0 where the exponent is 0
    return b == 0 ? 0.0 : dy * b * std::pow(a, b - 1);
  case OpKind::PowExponentGrad: // as PyTorch: 0 where a == 0 and b >= 0
    return a == 0 && b >= 0 ? 0.0 : dy * std::pow(a, b) * std::log(a);
  default:
    break;
  }
  NNC_UNREACHABLE("{}: not a gradient op of three operands", opInfo(op).name);
}

/// Any element-wise op but fused_elementwise on one element of f32 (or
/// where's mixed) operands, in double.
double scalarOp(OpKind op, const Attrs &attrs, const double *args) {
  const OpInfo &info = opInfo(op);
  if (op == OpKind::Where)
    return args[0] != 0 ? args[1] : args[2];
  if (info.has(kGradientOp))
    return info.maxInputs == 3 ? ternaryGradOp(op, args[0], args[1], args[2])
                               : unaryGradOp(op, attrs, args[0], args[1]);
  if (info.has(kUnary))
    return unaryOp(op, attrs, args[0]);
  return binaryOpF32(op, args[0], args[1]);
}

/// One element-wise op, rounded to f32 as its own kernel stores it (for
/// fused_elementwise programs).
float applyScalar(OpKind op, const Attrs &attrs, const std::vector<float> &args) {
  double in[3] = {0, 0, 0};
  for (size_t k = 0; k < args.size(); ++k)
    in[k] = args[k];
  return static_cast<float>(scalarOp(op, attrs, in));
}

/// Every element-wise op but fused_elementwise: each element of the result
/// from the operands' elements it reads (NumPy broadcasting).
void evalPlain(KernelCall &call) {
  Tensor &out = call.output;
  std::vector<BroadcastIndex> index;
  for (const Tensor *t : call.inputs)
    index.emplace_back(t->shape(), out.shape());
  // i32 arithmetic wraps: it is done in integers, not in double.
  bool integer = call.node.info().has(kBinary) && call.inputs[0]->dtype() == DType::I32;
  double args[3];
  for (int64_t i = 0; i < out.numel(); ++i) {
    if (integer) {
      out.set(i, binaryOpI32(call.node.op, call.inputs[0]->i32()[index[0](i)],
                             call.inputs[1]->i32()[index[1](i)]));
      continue;
    }
    for (size_t k = 0; k < call.inputs.size(); ++k)
      args[k] = call.inputs[k]->at(index[k](i));
    out.set(i, scalarOp(call.node.op, call.node.attrs, args));
  }
}

/// dropout_train (x, step): x / (1 - p) where the mask keeps the element,
/// else 0 (ir/DropoutMask.h).
void evalDropoutTrain(KernelCall &call) {
  const Tensor &x = *call.inputs[0];
  int32_t step = call.inputs[1]->i32()[0];
  float p = static_cast<float>(attr::dropP(call.node));
  uint32_t key = dropoutKey(attr::seed(call.node), step);
  float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i)
    call.output.f32()[i] = dropoutKeeps(key, i, p) ? x.f32()[i] * scale : 0.0f;
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

/// leaky_relu's attributes with slope `alpha` (or none for other ops): what
/// the fused matmuls pass for their activation.
Attrs activationAttrs(OpKind op, double alpha) {
  return opInfo(op).attrIndex("alpha") >= 0 ? Attrs{AttrValue::num(alpha)} : Attrs{};
}

} // namespace

float unaryScalar(OpKind op, float x, double alpha) {
  return static_cast<float>(unaryOp(op, activationAttrs(op, alpha), x));
}

float unaryGradScalar(OpKind op, float v, float dy, double alpha) {
  return static_cast<float>(unaryGradOp(op, activationAttrs(op, alpha), v, dy));
}

Status evalElementwise(KernelCall &call) {
  if (call.node.op == OpKind::FusedElementwise)
    return evalFusedElementwise(call);
  if (call.node.op == OpKind::DropoutTrain) {
    evalDropoutTrain(call);
    return Ok{};
  }
  NNC_CHECK(call.node.info().family == OpFamily::Elementwise, "{} is not element-wise",
            call.node.info().name);
  evalPlain(call);
  return Ok{};
}

} // namespace nnc
