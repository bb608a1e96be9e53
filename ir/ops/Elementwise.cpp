/// Element-wise ops: unary activations keep their operand's type; binary ops
/// broadcast as NumPy does.
#include "ir/ElementwiseProgram.h"
#include "ir/ShapeRules.h"

namespace nnc {

/// Gradient ops of (a, b, dy) (maximum_grad, pow_base_grad, ...): dy has
/// the broadcast shape of a and b.
static TypeOrNone inferBroadcastGrad(ShapeQuery &q) {
  for (size_t i = 0; i < 3; ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  Shape shape;
  if (!broadcastShapes(q.operand(0).shape, q.operand(1).shape, shape))
    return q.error("shapes do not broadcast: {} and {}", q.str(q.operand(0)), q.str(q.operand(1)));
  if (shape != q.operand(2).shape)
    return q.error("the incoming gradient is {} but the operands broadcast to {}",
                   q.str(q.operand(2)), q.str(shape));
  return q.operand(2);
}

/// where(cond, a, b): cond f32 or i32; a and b of one dtype, which is the
/// result's; the three shapes broadcast.
static TypeOrNone inferWhere(ShapeQuery &q) {
  const Type &a = q.operand(1);
  const Type &b = q.operand(2);
  if (a.dtype != b.dtype)
    return q.error("the values have different dtypes: {} and {}", q.str(a), q.str(b));
  Type out{a.dtype, {}};
  Shape ab;
  if (!broadcastShapes(a.shape, b.shape, ab) || !broadcastShapes(q.operand(0).shape, ab, out.shape))
    return q.error("shapes do not broadcast: {}, {} and {}", q.str(q.operand(0)), q.str(a),
                   q.str(b));
  return out;
}

/// fused_elementwise: f32 inputs; each instruction's shape is the
/// broadcast of its operands'; the last one's is the result's.
static TypeOrNone inferFusedElementwise(ShapeQuery &q) {
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (!q.requireF32(i))
      return std::nullopt;
  if (q.attr("program").isNone())
    return std::nullopt; // reported where the attribute was read
  std::string why;
  std::optional<ElementwiseProgram> program =
      decodeProgram(q.attr("program"), q.operands.size(), why);
  if (!program)
    return q.error("{}", why);
  std::vector<Shape> shapes;
  for (const Type &t : q.operands)
    shapes.push_back(t.shape);
  for (size_t i = 0; i < program->size(); ++i) {
    const ElementwiseInstruction &inst = (*program)[i];
    Shape shape = shapes[static_cast<size_t>(inst.operands[0])];
    for (int k : inst.operands) {
      Shape joined;
      if (!broadcastShapes(shape, shapes[static_cast<size_t>(k)], joined))
        return q.error("instruction {} ({}): shapes do not broadcast: {} and {}", i,
                       opInfo(inst.op).name, q.str(Type{DType::F32, shape}),
                       q.str(Type{DType::F32, shapes[static_cast<size_t>(k)]}));
      shape = std::move(joined);
    }
    shapes.push_back(std::move(shape));
  }
  return Type{DType::F32, shapes.back()};
}

/// dropout (x) and dropout_train (x, step i32[]): x's type; p in [0, 1].
static TypeOrNone inferDropout(ShapeQuery &q) {
  if (!q.requireF32(0))
    return std::nullopt;
  double p = q.attr("p").number;
  if (!(p >= 0 && p <= 1))
    return q.error("p must be in [0, 1], got {}", p);
  if (q.operands.size() > 1 && q.operand(1) != Type{DType::I32, {}})
    return q.error("the step must be i32[], got {}", q.str(q.operand(1)));
  return q.operand(0);
}

TypeOrNone inferElementwiseType(ShapeQuery &q) {
  if (q.info.kind == OpKind::Dropout || q.info.kind == OpKind::DropoutTrain)
    return inferDropout(q);
  if (q.info.kind == OpKind::FusedElementwise)
    return inferFusedElementwise(q);
  if (q.info.kind == OpKind::Where)
    return inferWhere(q);
  if (q.info.has(kGradientOp) && q.info.maxInputs == 3)
    return inferBroadcastGrad(q);
  if (q.info.has(kGradientOp))
    return q.gradientLike(0, 1); // (x or y, dy)
  if (q.info.has(kUnary)) {
    if (!q.requireF32(0))
      return std::nullopt;
    return q.operand(0);
  }
  const Type &a = q.operand(0);
  const Type &b = q.operand(1);
  if (a.dtype != b.dtype)
    return q.error("operands have different dtypes: {} and {}", q.str(a), q.str(b));
  if (a.dtype == DType::I32 && !q.info.has(kIntegerOk))
    return q.error("i32 operands are not supported (i32 has add, sub, mul and eq): {} and {}",
                   q.str(a), q.str(b));
  Type out;
  out.dtype = q.info.kind == OpKind::Eq ? DType::F32 : a.dtype;
  if (!broadcastShapes(a.shape, b.shape, out.shape))
    return q.error("shapes do not broadcast: {} and {}", q.str(a), q.str(b));
  return out;
}

} // namespace nnc
