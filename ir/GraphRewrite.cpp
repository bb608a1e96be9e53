/// Replace-all-uses, constants, re-typing and compaction for passes that
/// edit a graph in place.
#include "ir/GraphRewrite.h"
#include "ir/InternalError.h"

#include "ir/ShapeRules.h"

#include <set>

namespace nnc {

bool compactGraph(Graph &g, const std::vector<bool> &keepNode, bool dropUnusedConsts) {
  // Uses from what stays.
  std::vector<bool> used(g.values.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (keepNode[i])
      for (ValueId v : g.nodes[i].operands)
        used[static_cast<size_t>(v)] = true;
  for (const Update &u : g.updates)
    used[static_cast<size_t>(u.value)] = true;
  for (const OutputRef &o : g.outputs)
    used[static_cast<size_t>(o.value)] = true;
  if (g.minimize)
    used[static_cast<size_t>(g.minimize->loss)] = true;

  std::vector<ValueId> newId(g.values.size(), kNoValue);
  std::vector<Value> values;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value &v = g.values[i];
    bool keep = true;
    switch (v.kind) {
    case ValueKind::Input:
    case ValueKind::Param:
    case ValueKind::State:
      break;
    case ValueKind::Const:
      keep = used[i] || !dropUnusedConsts;
      break;
    case ValueKind::Immediate:
      keep = used[i];
      break;
    case ValueKind::Op:
      keep = v.def >= 0 && keepNode[static_cast<size_t>(v.def)];
      break;
    }
    if (!keep)
      continue;
    newId[i] = static_cast<ValueId>(values.size());
    values.push_back(std::move(g.values[i]));
  }
  bool changed = values.size() != g.values.size();
  auto map = [&](ValueId v) {
    NNC_CHECK(newId[static_cast<size_t>(v)] != kNoValue, "a kept use of a removed value");
    return newId[static_cast<size_t>(v)];
  };
  std::vector<Node> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!keepNode[i])
      continue;
    Node n = std::move(g.nodes[i]);
    for (ValueId &v : n.operands)
      v = map(v);
    n.result = map(n.result);
    values[static_cast<size_t>(n.result)].def = static_cast<NodeId>(nodes.size());
    nodes.push_back(std::move(n));
  }
  changed = changed || nodes.size() != g.nodes.size();
  g.values = std::move(values);
  g.nodes = std::move(nodes);
  for (Update &u : g.updates) {
    u.target = map(u.target);
    u.value = map(u.value);
  }
  for (OutputRef &o : g.outputs)
    o.value = map(o.value);
  if (g.minimize)
    g.minimize->loss = map(g.minimize->loss);
  return changed;
}

std::optional<Type> inferNodeType(const Graph &g, OpKind op, const std::vector<ValueId> &operands,
                                  const Attrs &attrs) {
  const OpInfo &info = opInfo(op);
  int n = static_cast<int>(operands.size());
  if (n < info.minInputs || n > info.maxInputs || attrs.size() != info.attrs.size())
    return std::nullopt;
  std::vector<Type> types;
  for (ValueId v : operands)
    types.push_back(g.type(v));
  Diagnostics scratch;
  ShapeQuery q(info, std::move(types), attrs, g.dimNames(), {}, scratch);
  return inferType(q);
}

AttrValue shapeAttr(const Graph &g, const Shape &shape) {
  std::vector<AttrValue> out;
  for (const Dim &d : shape)
    out.push_back(d.isSymbolic() ? AttrValue::name(g.dims[static_cast<size_t>(d.symbol)].name)
                                 : AttrValue::num(static_cast<double>(d.size)));
  return AttrValue::values(std::move(out));
}

// ---- GraphRewriter ---------------------------------------------------------------

GraphRewriter::GraphRewriter(Graph &g)
    : g_(g), replacement_(g.values.size()), root_(g.values.size(), false),
      usesBefore_(g.useCounts()) {
  for (size_t i = 0; i < replacement_.size(); ++i)
    replacement_[i] = static_cast<ValueId>(i);
  for (const OutputRef &o : g.outputs)
    root_[static_cast<size_t>(o.value)] = true;
  if (g.minimize)
    root_[static_cast<size_t>(g.minimize->loss)] = true;
}

ValueId GraphRewriter::resolve(ValueId v) const {
  while (replacement_[static_cast<size_t>(v)] != v)
    v = replacement_[static_cast<size_t>(v)];
  return v;
}

void GraphRewriter::remapOperands(NodeId id) {
  for (ValueId &v : g_.node(id).operands)
    v = resolve(v);
}

bool GraphRewriter::canReplace(ValueId from, ValueId to) const {
  if (from == to || g_.type(from) != g_.type(to))
    return false;
  const Value &f = g_.value(from), &t = g_.value(to);
  if (f.kind != ValueKind::Op) // declarations are never replaced
    return false;
  if (!isRoot(from))
    return true;
  if (t.kind == ValueKind::Immediate) // an output needs a name
    return false;
  return f.name.empty() || (t.kind == ValueKind::Op && t.name.empty());
}

bool GraphRewriter::replace(ValueId from, ValueId to) {
  from = resolve(from);
  to = resolve(to);
  if (!canReplace(from, to))
    return false;
  Value &f = g_.value(from), &t = g_.value(to);
  if (!f.name.empty() && t.kind == ValueKind::Op && t.name.empty()) {
    t.name = std::move(f.name);
    t.loc = f.loc;
    f.name.clear();
  }
  replacement_[static_cast<size_t>(from)] = to;
  if (isRoot(from))
    root_[static_cast<size_t>(to)] = true;
  changed_ = true;
  return true;
}

void GraphRewriter::replaceImmediate(ValueId from, ValueId to) {
  NNC_CHECK(g_.value(from).kind == ValueKind::Immediate && g_.type(from) == g_.type(to), "");
  replacement_[static_cast<size_t>(from)] = resolve(to);
}

ValueId GraphRewriter::addImmediate(double v, DType dtype, SourceLoc loc) {
  Value imm;
  imm.kind = ValueKind::Immediate;
  imm.type = Type{dtype, {}};
  imm.loc = loc;
  imm.data = {v};
  g_.values.push_back(std::move(imm));
  replacement_.push_back(static_cast<ValueId>(g_.values.size() - 1));
  root_.push_back(false);
  usesBefore_.push_back(0);
  return replacement_.back();
}

ValueId GraphRewriter::addConst(const std::string &name, Type type, std::vector<double> data,
                                SourceLoc loc) {
  Value c;
  c.name = name;
  c.kind = ValueKind::Const;
  c.type = std::move(type);
  c.loc = loc;
  c.data = std::move(data);
  g_.values.push_back(std::move(c));
  replacement_.push_back(static_cast<ValueId>(g_.values.size() - 1));
  root_.push_back(false);
  usesBefore_.push_back(0);
  return replacement_.back();
}

bool GraphRewriter::replaceWithConstant(ValueId like, std::vector<double> data,
                                        const std::string &base) {
  like = resolve(like);
  Type type = g_.type(like);
  SourceLoc loc = g_.value(like).loc;
  ValueId c;
  if (type.isScalar() && !isRoot(like)) {
    c = addImmediate(data.at(0), type.dtype, loc);
  } else {
    // The const takes the value's user name, so outputs keep it.
    std::string name = std::move(g_.value(like).name);
    g_.value(like).name.clear();
    c = addConst(name.empty() ? freshName(base) : name, type, std::move(data), loc);
  }
  bool replaced = replace(like, c);
  NNC_CHECK(replaced, "a constant of the same type always replaces an op result");
  return replaced;
}

std::string GraphRewriter::freshName(const std::string &base) const {
  std::set<std::string, std::less<>> taken;
  for (const Value &v : g_.values)
    if (!v.name.empty())
      taken.insert(v.name);
  for (const DimDecl &d : g_.dims)
    taken.insert(d.name);
  if (!taken.count(base))
    return base;
  for (int i = 1;; ++i)
    if (std::string name = base + "." + std::to_string(i); !taken.count(name))
      return name;
}

bool GraphRewriter::finish() {
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    remapOperands(static_cast<NodeId>(i));
  for (Update &u : g_.updates)
    u.value = resolve(u.value);
  for (OutputRef &o : g_.outputs)
    o.value = resolve(o.value);
  if (g_.minimize)
    g_.minimize->loss = resolve(g_.minimize->loss);

  // Nodes whose results this rewrite left without uses go, and then what
  // only they used (reverse order: users before their operands).
  std::vector<int> uses = g_.useCounts();
  std::vector<bool> keep(g_.nodes.size(), true);
  for (size_t i = g_.nodes.size(); i-- > 0;) {
    size_t r = static_cast<size_t>(g_.nodes[i].result);
    bool replaced = replacement_[r] != static_cast<ValueId>(r);
    if (uses[r] > 0 || (usesBefore_[r] == 0 && !replaced))
      continue;
    keep[i] = false;
    for (ValueId v : g_.nodes[i].operands)
      --uses[static_cast<size_t>(v)];
  }
  bool compacted = compactGraph(g_, keep, /*dropUnusedConsts=*/false);
  return changed_ || compacted;
}

} // namespace nnc
