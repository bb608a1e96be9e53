/// Helpers shared by the fusion passes (passes/fusion/Fusion.h).
#include "passes/fusion/Fusion.h"

#include "ir/GraphRewrite.h"

#include <fmt/format.h>

namespace nnc {

Uses::Uses(const Graph &g) : users(g.values.size()), pinned(g.values.size(), false) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (ValueId v : g.nodes[i].operands)
      users[static_cast<size_t>(v)].push_back(static_cast<NodeId>(i));
  for (const Update &u : g.updates)
    pinned[static_cast<size_t>(u.value)] = true;
  for (const OutputRef &o : g.outputs)
    pinned[static_cast<size_t>(o.value)] = true;
  if (g.minimize)
    pinned[static_cast<size_t>(g.minimize->loss)] = true;
}

std::string Uses::whyKept(ValueId v) const {
  size_t n = users[static_cast<size_t>(v)].size();
  if (pinned[static_cast<size_t>(v)])
    return "its result is an output, an update or the loss";
  if (n != 1)
    return fmt::format("its result has {} users", n);
  return "";
}

void removeNodes(Graph &g, const std::vector<bool> &dead) {
  std::vector<bool> keep(dead.size());
  for (size_t i = 0; i < dead.size(); ++i)
    keep[i] = !dead[i];
  compactGraph(g, keep, /*dropUnusedConsts=*/false);
}

void rewriteNode(Node &n, OpKind op, std::vector<ValueId> operands, Attrs attrs) {
  n.op = op;
  n.operands = std::move(operands);
  n.attrs = std::move(attrs);
}

} // namespace nnc
