/// Lowering of the Shape family (being written).
#include "codegen/Lowering.h"

namespace nnc {

void lowerShapeOp(Lowering &l, const Node &) { l.failIf(l.b.getTrue(), 99); }

} // namespace nnc
