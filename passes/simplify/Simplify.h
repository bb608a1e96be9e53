/// The simplification passes: common subexpressions, constant folding,
/// algebraic identities, dead code, and `simplify`, which repeats them until
/// nothing changes. Each keeps every result type and the names users see.
#pragma once

#include "passes/Pass.h"

namespace nnc {

/// `cse`: one node per (op, operands, attributes); commutative operands in
/// either order, equal numbers as equal operands.
std::unique_ptr<Pass> createCsePass();
/// `fold`: evaluates nodes whose operands are all consts or numbers with the
/// reference interpreter's kernels.
std::unique_ptr<Pass> createFoldPass();
/// `algebra`: x*1, x+0, x/1, neg(neg x), transpose and reshape chains,
/// reductions over size-1 axes, broadcasts reduced straight back.
std::unique_ptr<Pass> createAlgebraPass();
/// `dce`: removes what no output, update or minimized loss needs.
std::unique_ptr<Pass> createDcePass();
/// `simplify`: cse, fold, algebra, dce until nothing changes (bounded).
std::unique_ptr<Pass> createSimplifyPass();

} // namespace nnc
