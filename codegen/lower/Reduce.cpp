/// Lowering of the Reduce family (being written).
#include "codegen/Lowering.h"

namespace nnc {

void lowerReduce(Lowering &l, const Node &) { l.failIf(l.b.getTrue(), 99); }

} // namespace nnc
