/// fuse-elementwise: chains of element-wise and broadcast ops become one
/// fused_elementwise, one loop that reads its inputs and writes its result
/// once (ir/ElementwiseProgram.h says how the program is written).
///
/// Walking the nodes from the last, each f32 element-wise node not yet taken
/// roots a group; the group absorbs the producer of a member's operand when
///   - the producer is an f32 element-wise op itself (not yet in a group),
///   - its result has the root's type (no value is recomputed per element),
///   - every reader of its result is in the group, and the result is not an
///     output, an update's value or the loss (it is never stored),
/// until nothing more joins. A group of two or more nodes is rewritten in
/// place of its root; the others go. Runs after fuse-matmul and
/// fuse-add-layernorm, so it takes what their epilogues do not.
#include "ir/ElementwiseProgram.h"
#include "passes/fusion/Fusion.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <map>

namespace nnc {

namespace {

/// Most operands one fused loop reads (the op table's limit).
constexpr size_t kMaxInputs = 64;

bool isF32(const Graph &g, ValueId v) { return g.type(v).dtype == DType::F32; }

/// An element-wise op on f32 values that a program can hold.
bool fusible(const Graph &g, const Node &n) {
  if (!isProgramOp(n.op) || !isF32(g, n.result))
    return false;
  return std::all_of(n.operands.begin(), n.operands.end(), [&](ValueId v) { return isF32(g, v); });
}

class FuseElementwisePass : public Pass {
public:
  const char *name() const override { return "fuse-elementwise"; }

  Result<bool> run(Graph &g, PassContext &ctx) override {
    Uses uses(g);
    std::vector<bool> taken(g.nodes.size(), false), dead(g.nodes.size(), false);
    bool changed = false;
    for (size_t r = g.nodes.size(); r-- > 0;) {
      if (taken[r] || !fusible(g, g.nodes[r]))
        continue;
      std::vector<NodeId> group = grow(g, uses, static_cast<NodeId>(r), taken, ctx);
      if (group.size() < 2 || externalInputs(g, group).size() > kMaxInputs)
        continue;
      for (NodeId m : group)
        taken[static_cast<size_t>(m)] = true;
      rewrite(g, group, dead);
      if (ctx.remarks)
        ctx.diags.remark(g.nodes[r].loc, "{} element-wise ops fused into fused_elementwise",
                         group.size());
      changed = true;
    }
    removeNodes(g, dead);
    return changed;
  }

private:
  /// The root and what joins it, in node order.
  static std::vector<NodeId> grow(const Graph &g, const Uses &uses, NodeId root,
                                  const std::vector<bool> &taken, PassContext &ctx) {
    std::vector<NodeId> group = {root};
    const Type &rootType = g.type(g.node(root).result);
    auto inGroup = [&](NodeId n) {
      return std::find(group.begin(), group.end(), n) != group.end();
    };
    std::set<std::pair<NodeId, NodeId>> remarked; // (producer, member): said once
    for (bool grew = true; grew;) {
      grew = false;
      for (size_t m = 0; m < group.size(); ++m)
        for (ValueId v : g.node(group[m]).operands) {
          const Value &value = g.value(v);
          if (value.kind != ValueKind::Op || inGroup(value.def))
            continue;
          const Node &producer = g.node(value.def);
          if (taken[static_cast<size_t>(value.def)] || !fusible(g, producer))
            continue;
          const std::vector<NodeId> &readers = uses.users[static_cast<size_t>(v)];
          std::string why;
          if (value.type != rootType)
            why = fmt::format("it gives {}, the chain {}: a fused loop computes every value at "
                              "the chain's shape, and would repeat it per element",
                              g.typeString(v), g.typeString(rootType));
          else if (uses.pinned[static_cast<size_t>(v)])
            why = "its result must be kept (an output, an update or the loss), and a fused loop "
                  "keeps only its last value";
          else if (!std::all_of(readers.begin(), readers.end(), inGroup))
            why =
                fmt::format("{} ops read its result, not all of them in the chain", readers.size());
          if (!why.empty()) {
            if (ctx.remarks && remarked.insert({value.def, group[m]}).second)
              ctx.diags.remark(producer.loc, "{} not fused with {}: {}", producer.info().name,
                               g.node(group[m]).info().name, why);
            continue;
          }
          group.push_back(value.def);
          grew = true;
        }
    }
    std::sort(group.begin(), group.end());
    return group;
  }

  /// The operands the group reads from outside, in first-use order.
  static std::vector<ValueId> externalInputs(const Graph &g, const std::vector<NodeId> &group) {
    std::vector<ValueId> inputs;
    for (NodeId m : group)
      for (ValueId v : g.node(m).operands) {
        const Value &value = g.value(v);
        bool inside = value.kind == ValueKind::Op &&
                      std::find(group.begin(), group.end(), value.def) != group.end();
        if (!inside && std::find(inputs.begin(), inputs.end(), v) == inputs.end())
          inputs.push_back(v);
      }
    return inputs;
  }

  /// Turns the group's last node into the fused op; marks the others dead.
  static void rewrite(Graph &g, const std::vector<NodeId> &group, std::vector<bool> &dead) {
    std::vector<ValueId> inputs = externalInputs(g, group);
    std::map<ValueId, int> slot;
    for (size_t k = 0; k < inputs.size(); ++k)
      slot[inputs[k]] = static_cast<int>(k);
    ElementwiseProgram program;
    for (NodeId m : group) {
      const Node &n = g.node(m);
      ElementwiseInstruction inst{n.op, {}, n.attrs};
      for (ValueId v : n.operands)
        inst.operands.push_back(slot.at(v));
      slot[n.result] = static_cast<int>(inputs.size() + program.size());
      program.push_back(std::move(inst));
    }
    for (size_t k = 0; k + 1 < group.size(); ++k) {
      dead[static_cast<size_t>(group[k])] = true;
      g.node(group[k]).operands.clear();
    }
    rewriteNode(g.node(group.back()), OpKind::FusedElementwise, std::move(inputs),
                {encodeProgram(program)});
  }
};

} // namespace

std::unique_ptr<Pass> createFuseElementwisePass() {
  return std::make_unique<FuseElementwisePass>();
}

} // namespace nnc
