/// The C++ DSL (include/nnc/Dsl.h): expression trees lowered through
/// GraphBuilder in the parser's order.
#include <nnc/Dsl.h>

#include "ir/GraphBuilder.h"
#include "frontend/Lexer.h"

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>

namespace nnc::dsl {

namespace detail {

/// One node of an expression tree. A Call remembers the value it was lowered
/// to, per model, so a C++ variable used twice makes one graph node.
struct ExprNode {
  enum class Kind : uint8_t { Leaf, Number, Call };
  Kind kind = Kind::Call;
  SourceLoc loc;
  ModelImpl *model = nullptr; ///< Leaf: the value's model
  ValueId value = kNoValue;   ///< Leaf
  double number = 0;          ///< Number
  OpKind op = OpKind::Neg;    ///< Call
  std::vector<std::shared_ptr<const ExprNode>> args;
  std::vector<GivenAttr> attrs;
  mutable uint64_t loweredIn = 0; ///< serial of the model that lowered it
  mutable ValueId lowered = kNoValue;
};

/// The state behind a Model: the builder plus what lowering needs.
class ModelImpl {
public:
  ModelImpl(const std::string &name, SourceLoc loc);

  Diagnostics &diags() { return builder.diags(); }
  const Graph &graph() const { return builder.graph(); }

  void checkName(const std::string &name, SourceLoc loc);
  std::optional<Type> resolveType(const TypeSpec &spec, SourceLoc loc);
  ValueId declare(ValueKind kind, const std::string &name, const TypeSpec &spec, const Init *init,
                  SourceLoc loc);
  ValueId lowerOperand(const ExprNode &n, DType hint, SourceLoc user);
  ValueId lowerCall(const ExprNode &n);
  ValueId lowerStatementValue(const ExprNode &n, const char *what, SourceLoc loc);
  Value nameExpr(const std::string &name, const TypeSpec *type, const ExprNode &n, SourceLoc loc);

  GraphBuilder builder;
  const uint64_t serial;

private:
  Initializer lowerInit(const Init &init, const Type &type, std::vector<double> &data,
                        SourceLoc loc);
  void checkLiteral(const Literal &lit, const Type &type, SourceLoc loc);
};

/// The one friend of the handle classes: construction and field access.
struct Access {
  static Expr expr(std::shared_ptr<const ExprNode> n) { return Expr(std::move(n)); }
  static const ExprNode &node(const Expr &e) { return *e.node_; }
  static const std::shared_ptr<const ExprNode> &ptr(const Expr &e) { return e.node_; }
  static const Expr &expr(const Operand &o) { return o.expr_; }
  static const Loc &loc(const Operand &o) { return o.loc_; }
  static Value value(ModelImpl *m, ValueId id) {
    Value v;
    v.model_ = m;
    v.id_ = id;
    return v;
  }
  static ModelImpl *model(const Value &v) { return v.model_; }
  static SymDim dim(ModelImpl *m, int32_t index, const std::string &name) {
    SymDim d;
    d.model_ = m;
    d.index_ = index;
    d.name_ = name;
    return d;
  }
  static const SymDim &dim(const DimArg &d) { return d.dim_; }
  static ModelImpl *model(const SymDim &d) { return d.model_; }
  static int32_t index(const SymDim &d) { return d.index_; }
  static bool symbolic(const DimArg &d) { return d.symbolic_; }
  static int64_t size(const DimArg &d) { return d.size_; }
  static Init init(const char *name, std::vector<double> args, std::optional<int64_t> seed,
                   const Loc &loc) {
    return Init(name, std::move(args), seed, loc);
  }
  static const std::string &name(const Init &i) { return i.name_; }
  static const std::vector<double> &args(const Init &i) { return i.args_; }
  static const std::optional<int64_t> &seed(const Init &i) { return i.seed_; }
  static const std::optional<Loc> &loc(const Init &i) { return i.loc_; }
  static const Literal &literal(const Init &i) { return i.literal_; }
  static Optimizer optimizer(const char *name, std::vector<std::pair<const char *, double>> args,
                             const Loc &loc) {
    return Optimizer(name, std::move(args), loc);
  }
  static const std::string &name(const Optimizer &o) { return o.name_; }
  static const auto &args(const Optimizer &o) { return o.args_; }
  static const Loc &loc(const Optimizer &o) { return o.loc_; }
  static const std::vector<int64_t> &axes(const Axes &a) { return a.axes_; }
  static bool given(const Pair &p) { return p.given_; }
  static AttrValue attr(const Pair &p) { return AttrValue::ints({p.h_, p.w_}); }
};

} // namespace detail

using detail::Access;
using detail::ExprNode;
using detail::ModelImpl;

namespace {

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

uint64_t nextSerial() {
  static std::atomic<uint64_t> counter{0};
  return ++counter;
}

bool isValidName(const std::string &name) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (name.empty() || !alpha(name[0]))
    return false;
  for (char c : name)
    if (!alpha(c) && !digit(c) && c != '.')
      return false;
  return true;
}

GivenAttr given(const char *key, AttrValue v, SourceLoc loc) {
  return GivenAttr{key, std::move(v), loc};
}

GivenAttr flagAttr(const char *key, bool b, SourceLoc loc) {
  return given(key, AttrValue::flag(b), loc);
}

GivenAttr numAttr(const char *key, double v, SourceLoc loc) {
  return given(key, AttrValue::num(v), loc);
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
#define NNC_UNARY_OP(id, name)                                                                     \
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

// ---- lowering -------------------------------------------------------------------------

ModelImpl::ModelImpl(const std::string &name, SourceLoc loc)
    : builder(name, loc), serial(nextSerial()) {
  checkName(name, loc);
}

/// Names follow the model language's identifier rule.
void ModelImpl::checkName(const std::string &name, SourceLoc loc) {
  if (!isValidName(name))
    diags().error(loc,
                  "'{}' is not a valid name (a letter or '_', then letters, digits, "
                  "'_' or '.')",
                  name);
  else if (isKeyword(name))
    diags().error(loc, "'{}' is a reserved keyword and cannot be a name", name);
}

std::optional<Type> ModelImpl::resolveType(const TypeSpec &spec, SourceLoc loc) {
  Type t;
  t.dtype = spec.dtype;
  bool ok = true;
  for (const DimArg &d : spec.dims) {
    if (Access::symbolic(d)) {
      const SymDim &sym = Access::dim(d);
      if (Access::model(sym) != this) {
        diags().error(loc, "dim '{}' belongs to another model", sym.name());
        ok = false;
      }
      t.shape.push_back(Dim::sym(Access::index(sym)));
      continue;
    }
    int64_t n = Access::size(d);
    if (n < 0 || n >= (int64_t{1} << 31)) {
      diags().error(loc, "a dimension must be an integer in [0, 2^31), got {}", n);
      ok = false;
    }
    t.shape.push_back(Dim::fixed(n));
  }
  if (!ok)
    return std::nullopt;
  return t;
}

/// A literal's nested-list shape must be the declared one, its numbers
/// integers for i32 (as the parser checks them).
void ModelImpl::checkLiteral(const Literal &lit, const Type &type, SourceLoc loc) {
  if (lit.ragged()) {
    diags().error(loc, "ragged literal: lists of one level differ in shape");
    return;
  }
  for (double v : lit.data())
    if (!std::isfinite(static_cast<float>(v))) {
      diags().error(loc, "literal holds {}, not a finite f32", v);
      return;
    }
  if (type.dtype == DType::I32)
    for (double v : lit.data())
      if (std::nearbyint(v) != v) {
        diags().error(loc, "i32 literal holds the non-integer {}", v);
        return;
      }
  if (lit.shape().empty())
    return; // a bare number: GraphBuilder checks the element count
  if (!literalFills(lit.shape(), type)) {
    Shape s;
    for (int64_t n : lit.shape())
      s.push_back(Dim::fixed(n));
    diags().error(loc, "literal has shape {} but the declared type is {}", shapeToString(s, {}),
                  graph().typeString(type));
  }
}

Initializer ModelImpl::lowerInit(const Init &init, const Type &type, std::vector<double> &data,
                                 SourceLoc loc) {
  const auto &initLoc = Access::loc(init);
  SourceLoc l = initLoc ? at(*initLoc) : loc;
  if (Access::name(init) == "literal") {
    checkLiteral(Access::literal(init), type, l);
    data = Access::literal(init).data();
    return Initializer{"literal", {}, l};
  }
  const CallableInfo *info = findInitializer(Access::name(init));
  std::vector<GivenAttr> args;
  for (double v : Access::args(init))
    args.push_back(given("", AttrValue::num(v), l));
  if (Access::seed(init))
    args.push_back(numAttr("seed", static_cast<double>(*Access::seed(init)), l));
  return Initializer{info->name, resolveAttrs(info->attrs, args, info->name, l, diags()), l};
}

ValueId ModelImpl::declare(ValueKind kind, const std::string &name, const TypeSpec &spec,
                           const Init *init, SourceLoc loc) {
  checkName(name, loc);
  std::optional<Type> type = resolveType(spec, loc);
  if (!type) {
    builder.checkFresh(name, loc);
    return kNoValue;
  }
  if (kind == ValueKind::Input)
    return builder.addInput(name, *type, loc);
  std::vector<double> data;
  Initializer i = lowerInit(*init, *type, data, loc);
  if (kind == ValueKind::Const)
    return builder.addConst(name, *type, std::move(i), std::move(data), loc);
  if (kind == ValueKind::Param)
    return builder.addParam(name, *type, std::move(i), std::move(data), loc);
  return builder.addState(name, *type, std::move(i), std::move(data), loc);
}

/// An operand: a number becomes an immediate of dtype `hint`; `user` locates
/// errors about the handle itself.
ValueId ModelImpl::lowerOperand(const ExprNode &n, DType hint, SourceLoc user) {
  switch (n.kind) {
  case ExprNode::Kind::Number:
    // The parser's rule (a finite f32), so that the printed model parses.
    if (!std::isfinite(static_cast<float>(n.number))) {
      diags().error(n.loc, "number {} is not a finite f32", n.number);
      return kNoValue;
    }
    return builder.addImmediate(n.number, hint, n.loc);
  case ExprNode::Kind::Call:
    return lowerCall(n);
  case ExprNode::Kind::Leaf:
    break;
  }
  if (n.model == nullptr)
    diags().error(user, "an empty dsl::Value is used (it was never declared)");
  else if (n.model != this)
    diags().error(user, "a value of another dsl::Model is used");
  else
    return n.value;
  return kNoValue;
}

/// An op, lowered as Sema lowers a call: tensor operands first, left to
/// right and depth-first; then numbers, with the dtype of the others.
ValueId ModelImpl::lowerCall(const ExprNode &n) {
  if (n.loweredIn == serial)
    return n.lowered;
  const OpInfo &info = opInfo(n.op);
  std::vector<ValueId> operands(n.args.size(), kNoValue);
  std::optional<DType> dtype;
  bool failed = false;
  for (size_t i = 0; i < n.args.size(); ++i) {
    if (n.args[i]->kind == ExprNode::Kind::Number)
      continue;
    operands[i] = lowerOperand(*n.args[i], DType::F32, n.loc);
    if (operands[i] == kNoValue)
      failed = true;
    else if (!dtype)
      dtype = graph().type(operands[i]).dtype;
  }
  for (size_t i = 0; i < n.args.size(); ++i)
    if (n.args[i]->kind == ExprNode::Kind::Number)
      operands[i] = lowerOperand(*n.args[i], dtype.value_or(DType::F32), n.loc);
  Attrs attrs = resolveAttrs(info.attrs, n.attrs, info.name, n.loc, diags());
  ValueId v = failed ? kNoValue : builder.addOp(n.op, std::move(operands), std::move(attrs), n.loc);
  n.loweredIn = serial;
  n.lowered = v;
  return v;
}

/// The value of `output` or `minimize`: anything but a bare number.
ValueId ModelImpl::lowerStatementValue(const ExprNode &n, const char *what, SourceLoc loc) {
  if (n.kind == ExprNode::Kind::Number) {
    diags().error(loc, "{}: expected a value, not a number", what);
    return kNoValue;
  }
  return lowerOperand(n, DType::F32, loc);
}

/// `NAME (: TYPE)? = EXPR`, as Sema's lowerValue.
Value ModelImpl::nameExpr(const std::string &name, const TypeSpec *type, const ExprNode &n,
                          SourceLoc loc) {
  checkName(name, loc);
  bool fresh = builder.checkFresh(name, loc);
  if (n.kind != ExprNode::Kind::Call) {
    diags().error(loc, "'{}' must name the result of an op, not a {}", name,
                  n.kind == ExprNode::Kind::Leaf ? "value that already has a name" : "number");
    return Access::value(this, kNoValue);
  }
  if (n.loweredIn == serial && n.lowered != kNoValue && !graph().value(n.lowered).name.empty()) {
    diags().error(loc, "'{}' names a value that is already named '{}'", name,
                  graph().value(n.lowered).name);
    return Access::value(this, kNoValue);
  }
  std::optional<Type> declared;
  if (type)
    declared = resolveType(*type, loc);
  ValueId v = lowerCall(n);
  if (v == kNoValue)
    return Access::value(this, kNoValue);
  if (declared && *declared != graph().type(v)) {
    diags().error(loc, "'{}' is declared {} but its value is {}", name,
                  graph().typeString(*declared), graph().typeString(v));
    return Access::value(this, kNoValue);
  }
  if (fresh)
    builder.nameValue(v, name, loc);
  return Access::value(this, v);
}

// ---- the model --------------------------------------------------------------------------

Model::Model(const std::string &name, Loc loc)
    : impl_(std::make_unique<ModelImpl>(name, at(loc))) {}
Model::~Model() = default;
Model::Model(Model &&) noexcept = default;
Model &Model::operator=(Model &&) noexcept = default;

SymDim Model::dim(const std::string &name, Loc loc) {
  SourceLoc l = at(loc);
  impl_->checkName(name, l);
  return Access::dim(impl_.get(), impl_->builder.addDim(name, l), name);
}

Value Model::input(const std::string &name, const TypeSpec &type, Loc loc) {
  ValueId v = impl_->declare(ValueKind::Input, name, type, nullptr, at(loc));
  return Access::value(impl_.get(), v);
}

Value Model::param(const std::string &name, const TypeSpec &type, const Init &init, Loc loc) {
  ValueId v = impl_->declare(ValueKind::Param, name, type, &init, at(loc));
  return Access::value(impl_.get(), v);
}

Value Model::state(const std::string &name, const TypeSpec &type, const Init &init, Loc loc) {
  ValueId v = impl_->declare(ValueKind::State, name, type, &init, at(loc));
  return Access::value(impl_.get(), v);
}

Value Model::constant(const std::string &name, const TypeSpec &type, const Init &value, Loc loc) {
  ValueId v = impl_->declare(ValueKind::Const, name, type, &value, at(loc));
  return Access::value(impl_.get(), v);
}

Value Model::name(const std::string &name, const Expr &e, Loc loc) {
  return impl_->nameExpr(name, nullptr, Access::node(e), at(loc));
}

Value Model::name(const std::string &name, const TypeSpec &type, const Expr &e, Loc loc) {
  return impl_->nameExpr(name, &type, Access::node(e), at(loc));
}

void Model::update(const Value &target, const Expr &value, Loc loc) {
  SourceLoc l = at(loc);
  ValueId t = impl_->lowerOperand(Access::node(Expr(target)), DType::F32, l);
  DType dtype = t == kNoValue ? DType::F32 : impl_->graph().type(t).dtype;
  ValueId v = impl_->lowerOperand(Access::node(value), dtype, l);
  impl_->builder.addUpdate(t, v, l);
}

void Model::output(const Expr &e, Loc loc) {
  SourceLoc l = at(loc);
  impl_->builder.addOutput(impl_->lowerStatementValue(Access::node(e), "output", l), l);
}

void Model::minimize(const Expr &loss, const Optimizer &optimizer, Loc loc) {
  SourceLoc l = at(loc);
  ValueId v = impl_->lowerStatementValue(Access::node(loss), "minimize", l);
  const CallableInfo *info = findOptimizer(Access::name(optimizer));
  SourceLoc optLoc = at(Access::loc(optimizer));
  std::vector<GivenAttr> args;
  for (const auto &[key, value] : Access::args(optimizer))
    if (!std::isnan(value))
      args.push_back(numAttr(key, value, optLoc));
  Attrs attrs = resolveAttrs(info->attrs, args, info->name, optLoc, impl_->diags());
  impl_->builder.setMinimize(v, info->name, std::move(attrs), l);
}

Result<ModelGraph> Model::build() const {
  GraphBuilder copy = impl_->builder;
  Result<Graph> g = copy.finish();
  if (!g)
    return Result<ModelGraph>(g.takeDiags());
  return ModelGraph(std::move(g).value());
}

} // namespace nnc::dsl
