/// conv2d (and fused_conv2d), maxpool2d and avgpool2d over NCHW tensors with
/// static H and W.
#include "ir/Activation.h"
#include "ir/ShapeRules.h"
#include "ir/InternalError.h"

namespace nnc {

namespace {

struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};

bool checkSpatial(ShapeQuery &q, const Type &x) {
  if (x.rank() != 4) {
    q.error("input must be NCHW (rank 4), got {}", q.str(x));
    return false;
  }
  if (x.shape[2].isSymbolic() || x.shape[3].isSymbolic()) {
    q.error("spatial dims (H, W) must be static, got {}", q.str(x));
    return false;
  }
  return true;
}

TypeOrNone windowResult(ShapeQuery &q, const Type &x, Dim channels, const Window &w) {
  if (w.sh <= 0 || w.sw <= 0)
    return q.error("stride must be positive");
  if (w.ph < 0 || w.pw < 0)
    return q.error("padding must not be negative");
  if (w.kh <= 0 || w.kw <= 0)
    return q.error("kernel must be positive");
  int64_t oh = windowOutputSize(x.shape[2].size, w.kh, w.sh, w.ph);
  int64_t ow = windowOutputSize(x.shape[3].size, w.kw, w.sw, w.pw);
  if (oh <= 0 || ow <= 0)
    return q.error("a {}x{} window does not fit in {}", w.kh, w.kw, q.str(x));
  return Type{DType::F32, {x.shape[0], channels, Dim::fixed(oh), Dim::fixed(ow)}};
}

TypeOrNone inferConv2d(ShapeQuery &q) {
  const Type &x = q.operand(0);
  const Type &w = q.operand(1);
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  if (!checkSpatial(q, x))
    return std::nullopt;
  if (w.rank() != 4 || !w.isStatic())
    return q.error("filter must be static [F, C, KH, KW], got {}", q.str(w));
  if (w.shape[1] != x.shape[1])
    return q.error("input has {} channels but the filter expects {}: {} and {}",
                   dimToString(x.shape[1], q.dimNames), w.shape[1].size, q.str(x), q.str(w));
  if (q.operands.size() == 3 && q.operand(2).shape != Shape{w.shape[0]})
    return q.error("bias must have shape [{}], got {}", w.shape[0].size, q.str(q.operand(2)));
  auto stride = q.attr("stride").asInts();
  auto pad = q.attr("padding").asInts();
  Window win{w.shape[2].size, w.shape[3].size, stride[0], stride[1], pad[0], pad[1]};
  return windowResult(q, x, w.shape[0], win);
}

TypeOrNone inferPool(ShapeQuery &q) {
  const Type &x = q.operand(0);
  if (!q.requireF32(0) || !checkSpatial(q, x))
    return std::nullopt;
  auto kernel = q.attr("kernel").asInts();
  const AttrValue &strideAttr = q.attr("stride");
  auto stride = strideAttr.isNone() ? kernel : strideAttr.asInts();
  Window win{kernel[0], kernel[1], stride[0], stride[1], 0, 0};
  return windowResult(q, x, x.shape[1], win);
}

/// conv2d_grad_input (dy, w, x) -> x; conv2d_grad_filter (x, dy, w) -> w;
/// pool grads (x, dy) -> x.
TypeOrNone inferConvGrad(ShapeQuery &q) {
  switch (q.info.kind) {
  case OpKind::Conv2dGradInput:
    if (!q.checkIncomingGradient(OpKind::Conv2d, {q.operand(2), q.operand(1)}, 0))
      return std::nullopt;
    return q.operand(2);
  case OpKind::Conv2dGradFilter:
    if (!q.checkIncomingGradient(OpKind::Conv2d, {q.operand(0), q.operand(2)}, 1))
      return std::nullopt;
    return q.operand(2);
  case OpKind::MaxPool2dGrad:
    if (!q.checkIncomingGradient(OpKind::MaxPool2d, {q.operand(0)}, 1))
      return std::nullopt;
    return q.operand(0);
  case OpKind::AvgPool2dGrad:
    if (!q.checkIncomingGradient(OpKind::AvgPool2d, {q.operand(0)}, 1))
      return std::nullopt;
    return q.operand(0);
  default:
    NNC_UNHANDLED_OPKIND(q.info.kind, "shape rule");
  }
}

} // namespace

TypeOrNone inferConvType(ShapeQuery &q) {
  if (q.info.has(kGradientOp))
    return inferConvGrad(q);
  if (q.info.kind == OpKind::Conv2d)
    return inferConv2d(q);
  if (q.info.kind == OpKind::FusedConv2d) {
    const std::string &name = q.attr("activation").ident;
    if (!activationNamed(name).known)
      return q.error("activation must be {}, got '{}'", activationNames(), name);
    return inferConv2d(q);
  }
  return inferPool(q);
}

} // namespace nnc
