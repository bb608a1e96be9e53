/// Statement-by-statement graph construction with checking.
#include "ir/GraphBuilder.h"
#include "ir/ElementwiseProgram.h"

#include "ir/Spelling.h"

#include "ir/ShapeRules.h"

#include <cmath>

namespace nnc {

namespace {

const char *attrTypeWord(AttrType t) {
  switch (t) {
  case AttrType::Float:
    return "a number";
  case AttrType::Int:
    return "an integer";
  case AttrType::Bool:
    return "true or false";
  case AttrType::Ints:
    return "a list of integers";
  case AttrType::Axes:
    return "a non-empty list of integers";
  case AttrType::IntPair:
    return "an integer or a list of two integers";
  case AttrType::Shape:
    return "a list of integers and dim names";
  case AttrType::Name:
    return "a name";
  case AttrType::Text:
    return "a string in double quotes";
  case AttrType::Program:
    return "a list of instructions [op, operands..., attributes...]";
  }
  return "a value";
}

/// A program's instructions with every attribute written out (the
/// canonical form); the shape rule checks the rest (ir/ElementwiseProgram.h).
bool coerceProgram(AttrValue &v) {
  if (v.kind != AttrValue::Kind::List)
    return false;
  for (AttrValue &item : v.list) {
    if (item.kind != AttrValue::Kind::List || item.list.empty() ||
        item.list[0].kind != AttrValue::Kind::Ident)
      return false;
    const OpInfo *info = findOp(item.list[0].ident);
    size_t arity = info ? static_cast<size_t>(info->minInputs) : 0;
    if (!info || item.list.size() < 1 + arity)
      continue; // reported by the shape rule, with the instruction's number
    size_t full = 1 + arity + info->attrs.size();
    size_t attrsGiven = item.list.size() - 1 - arity;
    for (size_t k = attrsGiven; item.list.size() < full && k < info->attrs.size(); ++k)
      item.list.push_back(info->attrs[k].defaultValue.isNone() ? AttrValue::name(kAbsentAttr)
                                                               : info->attrs[k].defaultValue);
  }
  return true;
}

bool allIntegers(const AttrValue &v) {
  for (const AttrValue &e : v.list)
    if (!e.isInteger())
      return false;
  return true;
}

/// Converts a written value to the spec's canonical form; false if it does
/// not fit the type.
bool coerceAttr(AttrType type, AttrValue &v) {
  using K = AttrValue::Kind;
  switch (type) {
  case AttrType::Float:
    return v.kind == K::Number;
  case AttrType::Int:
    return v.isInteger();
  case AttrType::Bool:
    return v.kind == K::Bool;
  case AttrType::Name:
    return v.kind == K::Ident;
  case AttrType::Text:
    return v.kind == K::Text;
  case AttrType::Ints:
    return v.kind == K::List && allIntegers(v);
  case AttrType::Axes:
    if (v.isInteger())
      v = AttrValue::values({v});
    return v.kind == K::List && !v.list.empty() && allIntegers(v);
  case AttrType::IntPair:
    if (v.isInteger())
      v = AttrValue::values({v, v});
    return v.kind == K::List && v.list.size() == 2 && allIntegers(v);
  case AttrType::Shape:
    if (v.kind != K::List)
      return false;
    for (const AttrValue &e : v.list)
      if (!e.isInteger() && e.kind != K::Ident)
        return false;
    return true;
  case AttrType::Program:
    return coerceProgram(v);
  }
  return false;
}

} // namespace

Attrs resolveAttrs(const std::vector<AttrSpec> &specs, const std::vector<GivenAttr> &given,
                   const char *what, SourceLoc loc, Diagnostics &diags) {
  Attrs attrs;
  std::vector<bool> seen(specs.size(), false);
  for (const AttrSpec &s : specs)
    attrs.push_back(s.defaultValue);
  size_t nextPositional = 0;
  for (const GivenAttr &g : given) {
    int index = -1;
    if (g.key.empty()) {
      while (nextPositional < specs.size() && !specs[nextPositional].positional)
        ++nextPositional;
      if (nextPositional >= specs.size()) {
        diags.error(g.loc, "{}: too many arguments", what);
        continue;
      }
      index = static_cast<int>(nextPositional++);
    } else {
      for (size_t i = 0; i < specs.size(); ++i)
        if (g.key == specs[i].name)
          index = static_cast<int>(i);
      if (index < 0) {
        std::vector<std::string> names;
        for (const AttrSpec &spec : specs)
          names.push_back(spec.name);
        diags.error(g.loc, "{}: unknown attribute '{}'{}", what, g.key, didYouMean(g.key, names));
        continue;
      }
    }
    const AttrSpec &spec = specs[static_cast<size_t>(index)];
    if (seen[static_cast<size_t>(index)]) {
      diags.error(g.loc, "{}: attribute '{}' given twice", what, spec.name);
      continue;
    }
    seen[static_cast<size_t>(index)] = true;
    AttrValue v = g.value;
    if (!coerceAttr(spec.type, v)) {
      if (spec.type == AttrType::Axes && v.kind == AttrValue::Kind::List && v.list.empty())
        diags.error(g.loc, "{}: '{}' must not be empty; leave it out to use all axes", what,
                    spec.name);
      else
        diags.error(g.loc, "{}: attribute '{}' must be {}", what, spec.name,
                    attrTypeWord(spec.type));
      continue;
    }
    if (spec.type == AttrType::Float && !std::isfinite(static_cast<float>(v.number))) {
      diags.error(g.loc, "{}: attribute '{}' is not a finite f32", what, spec.name);
      continue;
    }
    attrs[static_cast<size_t>(index)] = std::move(v);
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].required && !seen[i])
      diags.error(loc, "{}: missing attribute '{}'", what, specs[i].name);
  return attrs;
}

GraphBuilder::GraphBuilder(std::string modelName, SourceLoc loc) {
  graph_.name = std::move(modelName);
  graph_.loc = loc;
}

GraphBuilder::GraphBuilder(Graph existing) : graph_(std::move(existing)) {
  for (const DimDecl &d : graph_.dims)
    defined_.emplace(d.name, d.loc);
  for (size_t i = 0; i < graph_.values.size(); ++i) {
    const Value &v = graph_.values[i];
    if (v.name.empty())
      continue;
    defined_.emplace(v.name, v.loc);
    valueByName_[v.name] = static_cast<ValueId>(i);
  }
}

std::string GraphBuilder::freshName(const std::string &base) const {
  if (!defined_.count(base))
    return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (!defined_.count(candidate))
      return candidate;
  }
}

bool GraphBuilder::checkFresh(const std::string &name, SourceLoc loc) {
  auto it = defined_.find(name);
  if (it == defined_.end()) {
    defined_.emplace(name, loc);
    return true;
  }
  if (it->second.known())
    diags_.error(loc, "redefinition of '{}' (first defined at {}:{})", name, it->second.line,
                 it->second.col);
  else
    diags_.error(loc, "redefinition of '{}'", name);
  return false;
}

int32_t GraphBuilder::addDim(const std::string &name, SourceLoc loc) {
  checkFresh(name, loc);
  graph_.dims.push_back(DimDecl{name, loc});
  return static_cast<int32_t>(graph_.dims.size() - 1);
}

ValueId GraphBuilder::addDeclaration(ValueKind kind, const std::string &name, Type type,
                                     SourceLoc loc) {
  bool fresh = checkFresh(name, loc);
  Value v;
  v.name = name;
  v.kind = kind;
  v.type = std::move(type);
  v.loc = loc;
  graph_.values.push_back(std::move(v));
  ValueId id = static_cast<ValueId>(graph_.values.size() - 1);
  if (fresh)
    valueByName_[name] = id;
  if (kind != ValueKind::Input && !graph_.values.back().type.isStatic())
    diags_.error(loc, "{} '{}' must have a static type, got {}", valueKindName(kind), name,
                 graph_.typeString(id));
  return id;
}

ValueId GraphBuilder::addInput(const std::string &name, Type type, SourceLoc loc) {
  return addDeclaration(ValueKind::Input, name, std::move(type), loc);
}

void GraphBuilder::checkInitializer(const Value &v) {
  const Initializer &init = v.init;
  if (init.name == "literal") {
    int64_t want = v.type.isStatic() ? v.type.staticElements() : -1;
    if (static_cast<int64_t>(v.data.size()) != want)
      diags_.error(init.loc, "literal has {} elements but {} '{}' has type {}", v.data.size(),
                   valueKindName(v.kind), v.name, graph_.typeString(v.type));
    return;
  }
  if (init.name == "glorot_uniform" || init.name == "he_normal") {
    if (v.type.rank() != 2 && v.type.rank() != 4)
      diags_.error(init.loc, "{} needs a rank 2 or 4 tensor, got {}", init.name,
                   graph_.typeString(v.type));
  }
  if ((init.name == "uniform" || init.name == "normal" || init.name == "glorot_uniform" ||
       init.name == "he_normal") &&
      v.type.dtype != DType::F32)
    diags_.error(init.loc, "{} initializes f32 tensors only, got {}", init.name,
                 graph_.typeString(v.type));
  if (init.name == "uniform" && init.args.size() >= 2 &&
      !(init.args[0].number <= init.args[1].number))
    diags_.error(init.loc, "uniform: lo ({}) must not exceed hi ({})", init.args[0].number,
                 init.args[1].number);
  if (init.name == "normal" && init.args.size() >= 2 && init.args[1].number < 0)
    diags_.error(init.loc, "normal: std must not be negative");
}

ValueId GraphBuilder::addParam(const std::string &name, Type type, Initializer init,
                               std::vector<double> literal, SourceLoc loc) {
  ValueId id = addDeclaration(ValueKind::Param, name, std::move(type), loc);
  Value &v = graph_.value(id);
  v.init = std::move(init);
  v.data = std::move(literal);
  if (v.type.dtype != DType::F32)
    diags_.error(loc, "param '{}' must be f32 (params are trained), got {}", name,
                 graph_.typeString(id));
  checkInitializer(v);
  return id;
}

ValueId GraphBuilder::addState(const std::string &name, Type type, Initializer init,
                               std::vector<double> literal, SourceLoc loc) {
  ValueId id = addDeclaration(ValueKind::State, name, std::move(type), loc);
  Value &v = graph_.value(id);
  v.init = std::move(init);
  v.data = std::move(literal);
  checkInitializer(v);
  return id;
}

ValueId GraphBuilder::addConst(const std::string &name, Type type, std::vector<double> data,
                               SourceLoc loc) {
  return addConst(name, std::move(type), Initializer{"literal", {}, loc}, std::move(data), loc);
}

namespace {

/// The values of the initializers a const may take (those without
/// randomness): zeros(), ones(), fill(v), arange().
std::optional<std::vector<double>> constantValues(const Initializer &init, int64_t count) {
  std::vector<double> data(static_cast<size_t>(count), 0.0);
  if (init.name == "zeros")
    return data;
  if (init.name == "ones" || init.name == "fill") {
    double v = init.name == "ones" ? 1.0 : init.args.at(0).number;
    std::fill(data.begin(), data.end(), v);
    return data;
  }
  if (init.name == "arange") {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<double>(i);
    return data;
  }
  return std::nullopt;
}

} // namespace

ValueId GraphBuilder::addConst(const std::string &name, Type type, Initializer init,
                               std::vector<double> literal, SourceLoc loc) {
  ValueId id = addDeclaration(ValueKind::Const, name, std::move(type), loc);
  Value &v = graph_.value(id);
  v.init = std::move(init);
  if (v.init.name == "literal") {
    v.data = std::move(literal);
  } else if (auto values =
                 constantValues(v.init, v.type.isStatic() ? v.type.staticElements() : 0)) {
    v.data = std::move(*values);
  } else {
    diags_.error(v.init.loc,
                 "a const takes a literal, zeros(), ones(), fill(v) or arange(), not {}()",
                 v.init.name);
    v.init = Initializer{"literal", {}, loc};
    v.data.assign(v.type.isStatic() ? static_cast<size_t>(v.type.staticElements()) : 0, 0.0);
  }
  checkInitializer(v);
  return id;
}

ValueId GraphBuilder::addImmediate(double number, DType dtype, SourceLoc loc) {
  Value v;
  v.kind = ValueKind::Immediate;
  v.type = Type{dtype, {}};
  v.loc = loc;
  v.data = {number};
  if (dtype == DType::I32 && std::nearbyint(number) != number)
    diags_.error(loc, "the number {} is used as an i32 but is not an integer", number);
  graph_.values.push_back(std::move(v));
  return static_cast<ValueId>(graph_.values.size() - 1);
}

ValueId GraphBuilder::addOp(OpKind op, std::vector<ValueId> operands, Attrs attrs, SourceLoc loc) {
  const OpInfo &info = opInfo(op);
  int n = static_cast<int>(operands.size());
  if (n < info.minInputs || n > info.maxInputs) {
    if (info.minInputs == info.maxInputs)
      diags_.error(loc, "{}: expects {} operand{}, got {}", info.name, info.minInputs,
                   info.minInputs == 1 ? "" : "s", n);
    else
      diags_.error(loc, "{}: expects {} to {} operands, got {}", info.name, info.minInputs,
                   info.maxInputs, n);
    return kNoValue;
  }
  std::vector<Type> types;
  for (ValueId v : operands) {
    if (v == kNoValue)
      return kNoValue;
    types.push_back(graph_.type(v));
  }
  canonicalizeAttrs(op, attrs);
  ShapeQuery q(info, std::move(types), attrs, graph_.dimNames(), loc, diags_);
  TypeOrNone type = inferType(q);
  if (!type)
    return kNoValue;

  Node node;
  node.op = op;
  node.operands = std::move(operands);
  node.attrs = std::move(attrs);
  node.loc = loc;
  Value result;
  result.kind = ValueKind::Op;
  result.type = std::move(*type);
  result.loc = loc;
  result.def = static_cast<NodeId>(graph_.nodes.size());
  graph_.values.push_back(std::move(result));
  node.result = static_cast<ValueId>(graph_.values.size() - 1);
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back().result;
}

void GraphBuilder::nameValue(ValueId v, const std::string &name, SourceLoc loc) {
  if (v == kNoValue)
    return;
  graph_.value(v).name = name;
  graph_.value(v).loc = loc;
  valueByName_[name] = v;
  defined_.emplace(name, loc);
}

void GraphBuilder::addUpdate(ValueId target, ValueId value, SourceLoc loc) {
  if (target == kNoValue || value == kNoValue)
    return;
  const Value &t = graph_.value(target);
  if (t.kind != ValueKind::Param && t.kind != ValueKind::State) {
    diags_.error(loc, "'{}' is {} {}; only a param or state can be updated with '<-'", t.name,
                 t.kind == ValueKind::Input ? "an" : "a", valueKindName(t.kind));
    return;
  }
  for (const Update &u : graph_.updates)
    if (u.target == target) {
      diags_.error(loc, "'{}' is updated twice (first at {}:{})", t.name, u.loc.line, u.loc.col);
      return;
    }
  if (graph_.type(value) != t.type) {
    diags_.error(loc, "update of '{}' has type {} but '{}' is {}", t.name, graph_.typeString(value),
                 t.name, graph_.typeString(target));
    return;
  }
  graph_.updates.push_back(Update{target, value, loc});
}

void GraphBuilder::addOutput(ValueId v, SourceLoc loc) {
  if (v == kNoValue)
    return;
  graph_.outputs.push_back(OutputRef{v, loc});
}

void GraphBuilder::setMinimize(ValueId loss, std::string optimizer, Attrs args, SourceLoc loc) {
  if (graph_.minimize) {
    diags_.error(loc, "a model minimizes one loss; 'minimize' was already given at {}:{}",
                 graph_.minimize->loc.line, graph_.minimize->loc.col);
    return;
  }
  if (loss == kNoValue)
    return;
  const Type &t = graph_.type(loss);
  if (!t.isScalar() || t.dtype != DType::F32) {
    diags_.error(loc, "minimize: '{}' must be a f32[] scalar, got {}", graph_.value(loss).name,
                 graph_.typeString(loss));
    return;
  }
  Minimize m{loss, std::move(optimizer), std::move(args), loc};
  for (const std::string &problem : optimizerArgProblems(m))
    diags_.error(loc, "{}", problem);
  graph_.minimize = std::move(m);
}

ValueId GraphBuilder::lookup(const std::string &name) const {
  auto it = valueByName_.find(name);
  return it == valueByName_.end() ? kNoValue : it->second;
}

Result<Graph> GraphBuilder::finish() {
  if (diags_.hasErrors()) {
    diags_.sortBySource();
    return Result<Graph>(std::move(diags_));
  }
  return Result<Graph>(std::move(graph_));
}

} // namespace nnc
