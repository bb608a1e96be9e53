/// Graph invariants, checked all at once.
#include "ir/Verifier.h"

#include "ir/Limits.h"
#include "ir/ShapeRules.h"

#include <set>

namespace nnc {

namespace {

class Verifier {
public:
  explicit Verifier(const Graph &g) : g_(g), defined_(g.values.size(), false) {}

  Diagnostics run() {
    checkNames();
    for (size_t i = 0; i < g_.values.size(); ++i)
      if (g_.values[i].kind != ValueKind::Op)
        defined_[i] = true;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      checkNode(static_cast<NodeId>(i));
    checkUpdates();
    checkSizes();
    for (const OutputRef &o : g_.outputs)
      checkUse(o.value, o.loc, "output");
    if (g_.minimize) {
      checkUse(g_.minimize->loss, g_.minimize->loc, "minimize");
      if (valid(g_.minimize->loss) && g_.type(g_.minimize->loss) != Type{DType::F32, {}})
        diags_.error(g_.minimize->loc, "minimize: the loss must be f32[], got {}",
                     g_.typeString(g_.minimize->loss));
      for (const std::string &problem : optimizerArgProblems(*g_.minimize))
        diags_.error(g_.minimize->loc, "{}", problem);
    }
    diags_.sortBySource();
    return std::move(diags_);
  }

private:
  bool valid(ValueId v) const { return v >= 0 && static_cast<size_t>(v) < g_.values.size(); }

  void checkNames() {
    std::set<std::string> seen;
    for (const DimDecl &d : g_.dims)
      if (!seen.insert(d.name).second)
        diags_.error(d.loc, "verifier: dim '{}' is defined twice", d.name);
    for (const Value &v : g_.values) {
      if (v.name.empty()) {
        if (v.isDeclaration())
          diags_.error(v.loc, "verifier: a {} has no name", valueKindName(v.kind));
        continue;
      }
      if (!seen.insert(v.name).second)
        diags_.error(v.loc, "verifier: '{}' is defined twice", v.name);
    }
  }

  void checkUse(ValueId v, SourceLoc loc, const char *user) {
    if (!valid(v))
      diags_.error(loc, "verifier: {} refers to value #{}, which does not exist", user, v);
    else if (!defined_[static_cast<size_t>(v)])
      diags_.error(loc, "verifier: {} uses '{}' before it is defined", user,
                   g_.value(v).name.empty() ? "a temporary" : g_.value(v).name);
  }

  void checkNode(NodeId id) {
    const Node &n = g_.node(id);
    const OpInfo &info = n.info();
    bool operandsOk = true;
    for (ValueId v : n.operands) {
      checkUse(v, n.loc, info.name);
      operandsOk = operandsOk && valid(v) && defined_[static_cast<size_t>(v)];
    }
    if (!valid(n.result) || g_.value(n.result).def != id) {
      diags_.error(n.loc, "verifier: {} node's result does not point back to it", info.name);
      return;
    }
    defined_[static_cast<size_t>(n.result)] = true;
    if (!operandsOk)
      return;
    if (n.attrs.size() != info.attrs.size()) {
      diags_.error(n.loc, "verifier: {} has {} attributes, the table says {}", info.name,
                   n.attrs.size(), info.attrs.size());
      return;
    }
    std::vector<Type> types;
    for (ValueId v : n.operands)
      types.push_back(g_.type(v));
    int count = static_cast<int>(types.size());
    if (count < info.minInputs || count > info.maxInputs) {
      diags_.error(n.loc, "verifier: {} has {} operands", info.name, count);
      return;
    }
    ShapeQuery q(info, std::move(types), n.attrs, g_.dimNames(), n.loc, diags_);
    TypeOrNone inferred = inferType(q);
    if (inferred && *inferred != g_.type(n.result))
      diags_.error(n.loc, "verifier: {} result is recorded as {} but its operands give {}",
                   info.name, g_.typeString(n.result), g_.typeString(*inferred));
  }

  void checkUpdates() {
    std::set<ValueId> targets;
    for (const Update &u : g_.updates) {
      checkUse(u.value, u.loc, "update");
      if (!valid(u.target) || !valid(u.value))
        continue;
      const Value &t = g_.value(u.target);
      if (t.kind != ValueKind::Param && t.kind != ValueKind::State)
        diags_.error(u.loc, "verifier: update target '{}' is not a param or state", t.name);
      if (!targets.insert(u.target).second)
        diags_.error(u.loc, "verifier: '{}' is updated twice", t.name);
      if (g_.type(u.value) != t.type)
        diags_.error(u.loc, "verifier: update of '{}' has type {}, expected {}", t.name,
                     g_.typeString(u.value), g_.typeString(u.target));
    }
  }

  /// Every type's static extents must multiply without overflow, and fully
  /// static ones fit maxTensorBytes(); so must all params and states together.
  void checkSizes() {
    int64_t stateBytes = 0;
    bool stateOverflow = false;
    for (size_t i = 0; i < g_.values.size(); ++i) {
      const Value &v = g_.values[i];
      std::vector<int64_t> extents;
      for (const Dim &d : v.type.shape)
        extents.push_back(d.isStatic() ? d.size : 1);
      const char *what = v.name.empty() ? "a temporary" : v.name.c_str();
      if (!checkedElements(extents)) {
        diags_.error(v.loc, "'{}': {} has more elements than a 64-bit count holds", what,
                     g_.typeString(static_cast<ValueId>(i)));
        continue;
      }
      if (!v.type.isStatic())
        continue;
      if (auto problem = tensorSizeProblem(v.type.dtype, extents)) {
        diags_.error(v.loc, "'{}': {}", what, *problem);
        continue;
      }
      if (v.kind == ValueKind::Param || v.kind == ValueKind::State)
        stateOverflow |= __builtin_add_overflow(
            stateBytes, v.type.staticElements() * dtypeSize(v.type.dtype), &stateBytes);
    }
    if (stateOverflow || stateBytes > maxTensorBytes())
      diags_.error(g_.loc,
                   "model '{}': its params and state need more than {} bytes together (set "
                   "NNC_MAX_TENSOR_BYTES to change the limit)",
                   g_.name, maxTensorBytes());
  }

  const Graph &g_;
  std::vector<bool> defined_;
  Diagnostics diags_;
};

} // namespace

Diagnostics verifyGraph(const Graph &g) { return Verifier(g).run(); }

} // namespace nnc
