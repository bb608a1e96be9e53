/// Dead-code elimination.
///
/// 1. The roots are what a caller can observe: every output, every update's
///    value, and the minimized loss.
/// 2. Walk the nodes backwards (users before operands), marking the operands
///    of every node whose result is live.
/// 3. Remove the nodes that are not live, then the numbers and consts nothing
///    uses any more. Inputs, params and states stay even when unused (they
///    are the model's interface and its saved state), and so do the names of
///    every value that remains.
#include "passes/simplify/Simplify.h"

#include "ir/GraphRewrite.h"

namespace nnc {

namespace {

class DcePass : public Pass {
public:
  const char *name() const override { return "dce"; }

  Result<bool> run(Graph &g, PassContext &) override {
    std::vector<bool> live(g.values.size(), false);
    for (const OutputRef &o : g.outputs)
      live[static_cast<size_t>(o.value)] = true;
    for (const Update &u : g.updates)
      live[static_cast<size_t>(u.value)] = true;
    if (g.minimize)
      live[static_cast<size_t>(g.minimize->loss)] = true;
    std::vector<bool> keep(g.nodes.size(), false);
    for (size_t i = g.nodes.size(); i-- > 0;) {
      const Node &n = g.nodes[i];
      if (!live[static_cast<size_t>(n.result)])
        continue;
      keep[i] = true;
      for (ValueId v : n.operands)
        live[static_cast<size_t>(v)] = true;
    }
    return compactGraph(g, keep, /*dropUnusedConsts=*/true);
  }
};

} // namespace

std::unique_ptr<Pass> createDcePass() { return std::make_unique<DcePass>(); }

} // namespace nnc
