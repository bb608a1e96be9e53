/// Lowering of the Loss family (being written).
#include "codegen/Lowering.h"

namespace nnc {

void lowerLoss(Lowering &l, const Node &) { l.failIf(l.b.getTrue(), 99); }

} // namespace nnc
