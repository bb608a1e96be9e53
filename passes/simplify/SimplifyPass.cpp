/// `simplify`: the simplification passes to a fixed point.
///
/// 1. Run cse, fold, algebra and dce in that order (each pass's verifier run
///    and --print-after-all output included).
/// 2. Repeat while a round changed the graph: a fold exposes an identity
///    (`x * (2 - 1)`), an identity exposes a common subexpression, and each
///    leaves dead code. Each round that changes something removes or
///    rewrites a node, so few rounds suffice; kMaxRounds bounds them anyway.
#include "passes/simplify/Simplify.h"

namespace nnc {

namespace {

constexpr int kMaxRounds = 8;

class SimplifyPass : public Pass {
public:
  const char *name() const override { return "simplify"; }
  Result<bool> run(Graph &g, PassContext &ctx) override {
    return runToFixpoint(g, {"cse", "fold", "algebra", "dce"}, ctx, kMaxRounds);
  }
};

} // namespace

std::unique_ptr<Pass> createSimplifyPass() { return std::make_unique<SimplifyPass>(); }

} // namespace nnc
