/// Lowering of the Conv family (being written).
#include "codegen/Lowering.h"

namespace nnc {

void lowerConv(Lowering &l, const Node &) { l.failIf(l.b.getTrue(), 99); }

} // namespace nnc
