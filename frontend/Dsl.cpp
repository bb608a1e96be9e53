/// The C++ DSL (include/nnc/Dsl.h): expression handles and the op builders,
/// which make expression trees; frontend/DslLowering.cpp lowers them into a
/// graph through GraphBuilder in the parser's order.
#include "frontend/DslModel.h"

#include <map>
#include <mutex>

namespace nnc::dsl {

namespace detail {

/// A SourceLoc for a C++ location. Each C++ file is registered once, with
/// empty text: diagnostics name `file:line:col` but have no line to quote.
SourceLoc at(const Loc &loc) {
  static std::mutex mutex;
  static std::map<std::string, const SourceFile *, std::less<>> files;
  std::lock_guard<std::mutex> lock(mutex);
  const SourceFile *&file = files[loc.file_name()];
  if (!file)
    file = SourceFile::add(loc.file_name(), "");
  return SourceLoc{file, static_cast<uint32_t>(loc.line()), static_cast<uint32_t>(loc.column())};
}

GivenAttr given(const char *key, AttrValue v, SourceLoc loc) {
  return GivenAttr{key, std::move(v), loc};
}

GivenAttr numAttr(const char *key, double v, SourceLoc loc) {
  return given(key, AttrValue::num(v), loc);
}

} // namespace detail

using detail::at;
using detail::given;
using detail::numAttr;

namespace {

GivenAttr flagAttr(const char *key, bool b, SourceLoc loc) {
  return given(key, AttrValue::flag(b), loc);
}

/// An op applied to `args` with the given attributes, not yet lowered.
Expr call(OpKind op, const std::vector<const Expr *> &args, std::vector<GivenAttr> attrs,
          SourceLoc loc) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprNode::Kind::Call;
  n->op = op;
  n->loc = loc;
  for (const Expr *a : args)
    n->args.push_back(Access::ptr(*a));
  n->attrs = std::move(attrs);
  return Access::expr(std::move(n));
}

Expr call(OpKind op, std::initializer_list<const Expr *> args, std::vector<GivenAttr> attrs,
          SourceLoc loc) {
  return call(op, std::vector<const Expr *>(args), std::move(attrs), loc);
}

Expr call(OpKind op, std::initializer_list<const Expr *> args, const Loc &loc) {
  return call(op, args, {}, at(loc));
}

Expr binary(OpKind op, const Operand &a, const Operand &b) {
  return call(op, {&Access::expr(a), &Access::expr(b)}, Access::loc(b));
}

/// `reduce(x, axes=..., keepdims=...)`, `axes` only when given.
Expr reduction(OpKind op, const Expr &x, const Axes &axes, bool keepdims, const Loc &loc) {
  SourceLoc l = at(loc);
  std::vector<GivenAttr> attrs;
  if (!Access::axes(axes).empty())
    attrs.push_back(given("axes", AttrValue::ints(Access::axes(axes)), l));
  attrs.push_back(flagAttr("keepdims", keepdims, l));
  return call(op, {&x}, std::move(attrs), l);
}

Expr axisOp(OpKind op, const Expr &x, int64_t axis, const Loc &loc) {
  SourceLoc l = at(loc);
  return call(op, {&x}, {numAttr("axis", static_cast<double>(axis), l)}, l);
}

Expr pool(OpKind op, const Expr &x, const Pair &kernel, const Pair &stride, const Loc &loc) {
  SourceLoc l = at(loc);
  std::vector<GivenAttr> attrs;
  if (Access::given(kernel))
    attrs.push_back(given("kernel", Access::attr(kernel), l));
  if (Access::given(stride))
    attrs.push_back(given("stride", Access::attr(stride), l));
  return call(op, {&x}, std::move(attrs), l);
}

std::vector<GivenAttr> convAttrs(const Pair &stride, const Pair &padding, SourceLoc l) {
  std::vector<GivenAttr> attrs;
  if (Access::given(stride))
    attrs.push_back(given("stride", Access::attr(stride), l));
  if (Access::given(padding))
    attrs.push_back(given("padding", Access::attr(padding), l));
  return attrs;
}

} // namespace

// ---- handles ---------------------------------------------------------------------

Expr::Expr(const Value &v) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprNode::Kind::Leaf;
  n->model = Access::model(v);
  n->value = v.id();
  node_ = std::move(n);
}

Expr::Expr(double number, const Loc &loc, int) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprNode::Kind::Number;
  n->number = number;
  n->loc = at(loc);
  node_ = std::move(n);
}

Literal::Literal(std::initializer_list<Literal> items) {
  shape_.push_back(static_cast<int64_t>(items.size()));
  if (items.size() == 0)
    return;
  const Literal &first = *items.begin();
  for (const Literal &item : items) {
    ragged_ = ragged_ || item.ragged_ || item.shape_ != first.shape_;
    data_.insert(data_.end(), item.data_.begin(), item.data_.end());
  }
  shape_.insert(shape_.end(), first.shape_.begin(), first.shape_.end());
}

Expr operator+(const Operand &a, const Operand &b) { return binary(OpKind::Add, a, b); }
Expr operator-(const Operand &a, const Operand &b) { return binary(OpKind::Sub, a, b); }
Expr operator*(const Operand &a, const Operand &b) { return binary(OpKind::Mul, a, b); }
Expr operator/(const Operand &a, const Operand &b) { return binary(OpKind::Div, a, b); }
Expr operator-(const Operand &a) { return call(OpKind::Neg, {&Access::expr(a)}, Access::loc(a)); }

// ---- initializers and optimizers --------------------------------------------------

Init zeros(Loc loc) { return Access::init("zeros", {}, std::nullopt, loc); }
Init ones(Loc loc) { return Access::init("ones", {}, std::nullopt, loc); }
Init fill(double value, Loc loc) { return Access::init("fill", {value}, std::nullopt, loc); }
Init arange(Loc loc) { return Access::init("arange", {}, std::nullopt, loc); }
Init uniform(double lo, double hi, int64_t seed, Loc loc) {
  return Access::init("uniform", {lo, hi}, seed, loc);
}
Init normal(double mean, double std, int64_t seed, Loc loc) {
  return Access::init("normal", {mean, std}, seed, loc);
}
Init glorot_uniform(int64_t seed, Loc loc) { return Access::init("glorot_uniform", {}, seed, loc); }
Init he_normal(int64_t seed, Loc loc) { return Access::init("he_normal", {}, seed, loc); }

Optimizer sgd(const SgdOptions &o, Loc loc) {
  return Access::optimizer(
      "sgd", {{"lr", o.lr}, {"momentum", o.momentum}, {"weight_decay", o.weight_decay}}, loc);
}
Optimizer sgd(double lr, double momentum, double weight_decay, Loc loc) {
  return sgd(SgdOptions{lr, momentum, weight_decay}, loc);
}
Optimizer adam(const AdamOptions &o, Loc loc) {
  return Access::optimizer(
      "adam", {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}}, loc);
}
Optimizer adam(double lr, double beta1, double beta2, double eps, Loc loc) {
  return adam(AdamOptions{lr, beta1, beta2, eps}, loc);
}

// ---- ops ----------------------------------------------------------------------------

// The functions of the ops of the common shapes, from the op table.
#define NNC_OP(...)
#define NNC_UNARY_OP(id, name, traits)                                                             \
  Expr name(const Expr &x, Loc loc) { return call(OpKind::id, {&x}, loc); }
#define NNC_BINARY_OP(id, name, traits)                                                            \
  Expr name(const Expr &a, const Expr &b, Loc loc) { return call(OpKind::id, {&a, &b}, loc); }
#define NNC_REDUCTION_OP(id, name)                                                                 \
  Expr name(const Expr &x, Axes axes, bool keepdims, Loc loc) {                                    \
    return reduction(OpKind::id, x, axes, keepdims, loc);                                          \
  }
#define NNC_LOSS_OP(id, name)                                                                      \
  Expr name(const Expr &prediction, const Expr &target, Loc loc) {                                 \
    return call(OpKind::id, {&prediction, &target}, loc);                                          \
  }
#include "nnc/Ops.def"
#undef NNC_OP
#undef NNC_UNARY_OP
#undef NNC_BINARY_OP
#undef NNC_REDUCTION_OP
#undef NNC_LOSS_OP

Expr leaky_relu(const Expr &x, double alpha, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::LeakyRelu, {&x}, {numAttr("alpha", alpha, l)}, l);
}

Expr clip(const Expr &x, std::optional<double> min, std::optional<double> max, Loc loc) {
  SourceLoc l = at(loc);
  std::vector<GivenAttr> attrs;
  if (min)
    attrs.push_back(numAttr("min", *min, l));
  if (max)
    attrs.push_back(numAttr("max", *max, l));
  return call(OpKind::Clip, {&x}, std::move(attrs), l);
}

Expr where(const Expr &cond, const Expr &a, const Expr &b, Loc loc) {
  return call(OpKind::Where, {&cond, &a, &b}, loc);
}

Expr matmul(const Expr &a, const Expr &b, bool transpose_a, bool transpose_b, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::MatMul, {&a, &b},
              {flagAttr("transpose_a", transpose_a, l), flagAttr("transpose_b", transpose_b, l)},
              l);
}

Expr reshape(const Expr &x, std::vector<DimArg> shape, Loc loc) {
  SourceLoc l = at(loc);
  std::vector<AttrValue> entries;
  for (const DimArg &d : shape)
    entries.push_back(Access::symbolic(d) ? AttrValue::name(Access::dim(d).name())
                                          : AttrValue::num(static_cast<double>(Access::size(d))));
  return call(OpKind::Reshape, {&x}, {given("shape", AttrValue::values(std::move(entries)), l)}, l);
}

Expr transpose(const Expr &x, std::vector<int64_t> perm, Loc loc) {
  SourceLoc l = at(loc);
  std::vector<GivenAttr> attrs;
  if (!perm.empty())
    attrs.push_back(given("perm", AttrValue::ints(perm), l));
  return call(OpKind::Transpose, {&x}, std::move(attrs), l);
}

Expr concat(const std::vector<Expr> &parts, int64_t axis, Loc loc) {
  SourceLoc l = at(loc);
  std::vector<const Expr *> args;
  for (const Expr &p : parts)
    args.push_back(&p);
  return call(OpKind::Concat, args, {numAttr("axis", static_cast<double>(axis), l)}, l);
}

Expr slice(const Expr &x, int64_t axis, int64_t start, std::optional<int64_t> end, int64_t step,
           Loc loc) {
  SourceLoc l = at(loc);
  std::vector<GivenAttr> attrs{numAttr("axis", static_cast<double>(axis), l),
                               numAttr("start", static_cast<double>(start), l)};
  if (end)
    attrs.push_back(numAttr("end", static_cast<double>(*end), l));
  attrs.push_back(numAttr("step", static_cast<double>(step), l));
  return call(OpKind::Slice, {&x}, std::move(attrs), l);
}

Expr tril(const Expr &x, int64_t k, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Tril, {&x}, {numAttr("k", static_cast<double>(k), l)}, l);
}

Expr triu(const Expr &x, int64_t k, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Triu, {&x}, {numAttr("k", static_cast<double>(k), l)}, l);
}

Expr cast(const Expr &x, DType to, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Cast, {&x},
              {given("to", AttrValue::name(to == DType::F32 ? "f32" : "i32"), l)}, l);
}

Expr gather(const Expr &x, const Expr &indices, int64_t axis, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Gather, {&x, &indices}, {numAttr("axis", static_cast<double>(axis), l)}, l);
}

Expr argmax(const Expr &x, int64_t axis, Loc loc) { return axisOp(OpKind::ArgMax, x, axis, loc); }
Expr softmax(const Expr &x, int64_t axis, Loc loc) { return axisOp(OpKind::Softmax, x, axis, loc); }
Expr log_softmax(const Expr &x, int64_t axis, Loc loc) {
  return axisOp(OpKind::LogSoftmax, x, axis, loc);
}

Expr layernorm(const Expr &x, const Expr &gamma, const Expr &beta, double eps, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::LayerNorm, {&x, &gamma, &beta}, {numAttr("eps", eps, l)}, l);
}

Expr batchnorm(const Expr &x, const Expr &gamma, const Expr &beta, const Expr &running_mean,
               const Expr &running_var, double momentum, double eps, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::BatchNorm, {&x, &gamma, &beta, &running_mean, &running_var},
              {numAttr("momentum", momentum, l), numAttr("eps", eps, l)}, l);
}

Expr dropout(const Expr &x, double p, int64_t seed, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Dropout, {&x},
              {numAttr("p", p, l), numAttr("seed", static_cast<double>(seed), l)}, l);
}

Expr conv2d(const Expr &x, const Expr &w, Pair stride, Pair padding, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Conv2d, {&x, &w}, convAttrs(stride, padding, l), l);
}

Expr conv2d(const Expr &x, const Expr &w, const Expr &b, Pair stride, Pair padding, Loc loc) {
  SourceLoc l = at(loc);
  return call(OpKind::Conv2d, {&x, &w, &b}, convAttrs(stride, padding, l), l);
}

Expr maxpool2d(const Expr &x, Pair kernel, Pair stride, Loc loc) {
  return pool(OpKind::MaxPool2d, x, kernel, stride, loc);
}
Expr avgpool2d(const Expr &x, Pair kernel, Pair stride, Loc loc) {
  return pool(OpKind::AvgPool2d, x, kernel, stride, loc);
}
} // namespace nnc::dsl
