/// The DSL's model (include/nnc/Dsl.h): declarations, updates and outputs,
/// and the expression trees of frontend/Dsl.cpp lowered through GraphBuilder
/// in the parser's order.
#include "frontend/DslModel.h"

#include "frontend/Lexer.h"

#include <atomic>
#include <cmath>

namespace nnc::dsl {

using detail::at;
using detail::given;
using detail::numAttr;

namespace {

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

} // namespace

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
