/// The DSL's insides (include/nnc/Dsl.h), shared by frontend/Dsl.cpp (the
/// expression handles and op builders) and frontend/DslLowering.cpp (the
/// model: declarations and expression trees lowered through GraphBuilder).
#pragma once

#include <nnc/Dsl.h>

#include "ir/GraphBuilder.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

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

/// A SourceLoc for a C++ location (frontend/Dsl.cpp).
SourceLoc at(const Loc &loc);

/// An attribute as a DSL call gives it.
GivenAttr given(const char *key, AttrValue v, SourceLoc loc);
GivenAttr numAttr(const char *key, double v, SourceLoc loc);

} // namespace detail

using detail::Access;
using detail::ExprNode;
using detail::ModelImpl;

} // namespace nnc::dsl
