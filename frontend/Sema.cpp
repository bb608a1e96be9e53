/// Semantic analysis: resolves the names of a ModelSyntax and builds the
/// checked Graph through GraphBuilder (which infers and checks types).
#include "ir/Spelling.h"
#include "frontend/Syntax.h"

#include <cmath>
#include <map>
#include <set>

namespace nnc {

namespace {

/// The names of the ops users write (not gradient, fused or training-form ops), for
/// "did you mean" suggestions.
const std::vector<std::string> &opNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const OpInfo &op : allOps())
      if (!op.has(kGradientOp) && !op.has(kFusedForm) && !op.has(kTrainingForm))
        out.push_back(op.name);
    return out;
  }();
  return names;
}

class Sema {
public:
  Sema(const ModelSyntax &model, Diagnostics diags)
      : model_(model), builder_(model.name, model.loc) {
    builder_.diags().append(std::move(diags));
  }

  Result<Graph> run() {
    collectDefinitions();
    for (const StmtSyntax &s : model_.stmts) {
      lowerStatement(s);
      if (!s.name.empty() && s.kind != StmtSyntax::Kind::Update &&
          s.kind != StmtSyntax::Kind::Minimize)
        processed_.insert(s.name);
    }
    return builder_.finish();
  }

private:
  Diagnostics &diags() { return builder_.diags(); }

  /// Every name a statement defines, with where (for "used before its
  /// definition").
  void collectDefinitions() {
    using K = StmtSyntax::Kind;
    for (const StmtSyntax &s : model_.stmts)
      if (s.kind != K::Update && s.kind != K::Output && s.kind != K::Minimize)
        definitions_.emplace(s.name, s.nameLoc);
  }

  void lowerStatement(const StmtSyntax &s) {
    using K = StmtSyntax::Kind;
    switch (s.kind) {
    case K::Dim:
      builder_.addDim(s.name, s.nameLoc);
      dims_.insert(s.name);
      return;
    case K::Input:
      if (auto t = resolveType(*s.type))
        builder_.addInput(s.name, *t, s.nameLoc);
      return;
    case K::Param:
    case K::State:
      lowerParamOrState(s);
      return;
    case K::Const:
      lowerConst(s);
      return;
    case K::Value:
      lowerValue(s);
      return;
    case K::Update:
      lowerUpdate(s);
      return;
    case K::Output:
      for (const auto &[name, loc] : s.outputs)
        builder_.addOutput(resolveName(name, loc), loc);
      return;
    case K::Minimize:
      lowerMinimize(s);
      return;
    }
  }

  std::optional<Type> resolveType(const TypeSyntax &syntax) {
    Type t;
    t.dtype = syntax.dtype;
    bool ok = true;
    for (const DimSyntax &d : syntax.dims) {
      if (d.name.empty()) {
        t.shape.push_back(Dim::fixed(d.size));
        continue;
      }
      int32_t index = builder_.graph().findDim(d.name);
      if (index < 0) {
        if (dims_.count(d.name) == 0)
          diags().error(d.loc, "unknown dim '{}'{}", d.name,
                        definitions_.count(d.name) ? " (it is not declared with 'dim' before this)"
                                                   : "");
        ok = false;
        continue;
      }
      t.shape.push_back(Dim::sym(index));
    }
    if (!ok)
      return std::nullopt;
    return t;
  }

  /// The value a name refers to here, or kNoValue after reporting why not.
  ValueId resolveName(const std::string &name, SourceLoc loc) {
    ValueId v = builder_.lookup(name);
    if (v != kNoValue)
      return v;
    if (processed_.count(name))
      return kNoValue; // defined, but its statement failed: already reported
    if (dims_.count(name)) {
      diags().error(loc, "'{}' is a dim, not a value", name);
      return kNoValue;
    }
    auto def = definitions_.find(name);
    if (def != definitions_.end())
      diags().error(loc, "'{}' is used before its definition at {}:{}", name, def->second.line,
                    def->second.col);
    else
      diags().error(loc, "unknown name '{}'", name);
    return kNoValue;
  }

  Initializer lowerInitializer(const ExprSyntax &e, DType dtype, std::vector<double> &literal) {
    Initializer init;
    init.loc = e.loc;
    if (e.kind != ExprSyntax::Kind::Call) {
      init.name = "literal";
      literal = e.kind == ExprSyntax::Kind::Number ? std::vector<double>{e.number} : e.literal;
      checkLiteralDtype(literal, dtype, e.loc);
      return init;
    }
    const CallableInfo *info = findInitializer(e.name);
    if (!info) {
      diags().error(e.loc,
                    "unknown initializer '{}' (nnc has zeros, ones, fill, arange, uniform, "
                    "normal, glorot_uniform, he_normal, safetensors)",
                    e.name);
      return Initializer{"zeros", {}, e.loc};
    }
    init.name = info->name;
    std::vector<GivenAttr> given;
    for (const ExprSyntax &arg : e.args) {
      if (arg.kind == ExprSyntax::Kind::String) {
        given.push_back(GivenAttr{"", AttrValue::text(arg.name), arg.loc});
        continue;
      }
      if (arg.kind != ExprSyntax::Kind::Number) {
        diags().error(arg.loc, "{}: arguments must be numbers, or a file name in double quotes",
                      info->name);
        continue;
      }
      given.push_back(GivenAttr{"", AttrValue::num(arg.number), arg.loc});
    }
    given.insert(given.end(), e.attrs.begin(), e.attrs.end());
    init.args = resolveAttrs(info->attrs, given, info->name, e.loc, diags());
    return init;
  }

  void checkLiteralDtype(const std::vector<double> &data, DType dtype, SourceLoc loc) {
    if (dtype != DType::I32)
      return;
    for (double v : data)
      if (std::nearbyint(v) != v) {
        diags().error(loc, "i32 literal holds the non-integer {}", v);
        return;
      }
  }

  /// A literal's nested-list shape must be the declared one.
  bool checkLiteralShape(const ExprSyntax &e, const Type &t) {
    if (e.kind != ExprSyntax::Kind::Literal)
      return true;
    bool same = literalFills(e.literalShape, t);
    if (!same) {
      DimNames none;
      Shape s;
      for (int64_t n : e.literalShape)
        s.push_back(Dim::fixed(n));
      diags().error(e.loc, "literal has shape {} but the declared type is {}",
                    shapeToString(s, none), builder_.graph().typeString(t));
    }
    return same;
  }

  void lowerParamOrState(const StmtSyntax &s) {
    std::optional<Type> t = resolveType(*s.type);
    if (!t) {
      builder_.checkFresh(s.name, s.nameLoc);
      return;
    }
    std::vector<double> literal;
    Initializer init = lowerInitializer(*s.expr, t->dtype, literal);
    if (init.name == "literal" && !checkLiteralShape(*s.expr, *t)) {
      builder_.checkFresh(s.name, s.nameLoc);
      return;
    }
    if (s.kind == StmtSyntax::Kind::Param)
      builder_.addParam(s.name, *t, std::move(init), std::move(literal), s.nameLoc);
    else
      builder_.addState(s.name, *t, std::move(init), std::move(literal), s.nameLoc);
  }

  void lowerConst(const StmtSyntax &s) {
    std::optional<Type> t = resolveType(*s.type);
    if (!t) {
      builder_.checkFresh(s.name, s.nameLoc);
      return;
    }
    const ExprSyntax &e = *s.expr;
    std::vector<double> literal;
    Initializer init = lowerInitializer(e, t->dtype, literal);
    if (init.name == "literal" && !checkLiteralShape(e, *t)) {
      builder_.checkFresh(s.name, s.nameLoc);
      return;
    }
    builder_.addConst(s.name, *t, std::move(init), std::move(literal), s.nameLoc);
  }

  /// Lowers an operand expression; numbers take `hint` as their dtype.
  ValueId lowerExpr(const ExprSyntax &e, DType hint) {
    switch (e.kind) {
    case ExprSyntax::Kind::Number:
      return builder_.addImmediate(e.number, hint, e.loc);
    case ExprSyntax::Kind::Name:
      return resolveName(e.name, e.loc);
    case ExprSyntax::Kind::Literal:
      diags().error(e.loc, "a list literal may only initialize a const, param or state");
      return kNoValue;
    case ExprSyntax::Kind::Call:
      return lowerCall(e);
    case ExprSyntax::Kind::String:
      diags().error(e.loc, "a string may only name a file, in an initializer: "
                           "param p: f32[2, 3] = safetensors(\"weights.safetensors\")");
      return kNoValue;
    }
    return kNoValue;
  }

  ValueId lowerCall(const ExprSyntax &e) {
    const OpInfo *info = findOp(e.name);
    if (!info) {
      if (findInitializer(e.name))
        diags().error(e.loc, "'{}' is an initializer, not an op", e.name);
      else if (findOptimizer(e.name))
        diags().error(e.loc, "'{}' is an optimizer; use it in 'minimize LOSS with {}(...)'", e.name,
                      e.name);
      else
        diags().error(e.loc, "unknown op '{}'{}", e.name, didYouMean(e.name, opNames()));
      for (const ExprSyntax &arg : e.args)
        if (arg.kind != ExprSyntax::Kind::Number)
          lowerExpr(arg, DType::F32); // still report errors inside
      return kNoValue;
    }
    // Tensor operands first: a number operand takes the dtype of the others.
    std::vector<ValueId> operands(e.args.size(), kNoValue);
    std::optional<DType> dtype;
    bool failed = false;
    for (size_t i = 0; i < e.args.size(); ++i) {
      if (e.args[i].kind == ExprSyntax::Kind::Number)
        continue;
      operands[i] = lowerExpr(e.args[i], DType::F32);
      if (operands[i] == kNoValue)
        failed = true;
      else if (!dtype)
        dtype = builder_.graph().type(operands[i]).dtype;
    }
    for (size_t i = 0; i < e.args.size(); ++i)
      if (e.args[i].kind == ExprSyntax::Kind::Number)
        operands[i] = lowerExpr(e.args[i], dtype.value_or(DType::F32));
    Attrs attrs = resolveAttrs(info->attrs, e.attrs, info->name, e.loc, diags());
    if (failed)
      return kNoValue;
    return builder_.addOp(info->kind, std::move(operands), std::move(attrs), e.loc);
  }

  void lowerValue(const StmtSyntax &s) {
    const ExprSyntax &e = *s.expr;
    bool fresh = builder_.checkFresh(s.name, s.nameLoc);
    if (e.kind != ExprSyntax::Kind::Call) {
      diags().error(e.loc, "the right side of '=' must apply an op, not a bare {}{}",
                    e.kind == ExprSyntax::Kind::Name ? "name" : "number",
                    e.kind == ExprSyntax::Kind::Name ? " (use the name '" + e.name + "' directly)"
                                                     : "");
      return;
    }
    std::optional<Type> declared;
    if (s.type)
      declared = resolveType(*s.type);
    ValueId v = lowerCall(e);
    if (v == kNoValue)
      return;
    if (declared && *declared != builder_.graph().type(v)) {
      diags().error(s.type->loc, "'{}' is declared {} but its value is {}", s.name,
                    builder_.graph().typeString(*declared), builder_.graph().typeString(v));
      return;
    }
    if (fresh)
      builder_.nameValue(v, s.name, s.nameLoc);
  }

  void lowerUpdate(const StmtSyntax &s) {
    ValueId target = resolveName(s.name, s.nameLoc);
    DType dtype = target == kNoValue ? DType::F32 : builder_.graph().type(target).dtype;
    ValueId value = lowerExpr(*s.expr, dtype);
    builder_.addUpdate(target, value, s.loc);
  }

  void lowerMinimize(const StmtSyntax &s) {
    ValueId loss = resolveName(s.name, s.nameLoc);
    const ExprSyntax &e = *s.expr;
    const CallableInfo *info = findOptimizer(e.name);
    if (!info) {
      diags().error(e.loc, "unknown optimizer '{}' (nnc has sgd and adam)", e.name);
      return;
    }
    if (!e.args.empty()) {
      diags().error(e.args[0].loc, "{}: arguments are written key=value, e.g. {}(lr=0.1)",
                    info->name, info->name);
      return;
    }
    Attrs args = resolveAttrs(info->attrs, e.attrs, info->name, e.loc, diags());
    builder_.setMinimize(loss, info->name, std::move(args), s.loc);
  }

  const ModelSyntax &model_;
  GraphBuilder builder_;
  std::map<std::string, SourceLoc> definitions_;
  std::set<std::string> processed_;
  std::set<std::string> dims_;
};

} // namespace

Result<Graph> buildGraph(const ModelSyntax &model, Diagnostics diags) {
  return Sema(model, std::move(diags)).run();
}

} // namespace nnc
