/// The mixed-precision rewrite (passes/MixedPrecision.h).
#include "passes/MixedPrecision.h"

#include "ir/NodeAttrs.h"

namespace nnc {

bool applyBf16Products(Graph &g) {
  bool changed = false;
  for (Node &n : g.nodes) {
    int at = n.info().attrIndex("precision");
    if (at < 0 || attr::bf16Operands(n))
      continue;
    n.attrs[static_cast<size_t>(at)] = AttrValue::name("bf16");
    changed = true;
  }
  return changed;
}

const Node *firstBf16Node(const Graph &g) {
  for (const Node &n : g.nodes)
    if (attr::bf16Operands(n))
      return &n;
  return nullptr;
}

namespace {

class MixedPrecisionPass : public Pass {
public:
  const char *name() const override { return "mixed-precision"; }
  Result<bool> run(Graph &g, PassContext &) override { return applyBf16Products(g); }
};

} // namespace

std::unique_ptr<Pass> createMixedPrecisionPass() { return std::make_unique<MixedPrecisionPass>(); }

} // namespace nnc
