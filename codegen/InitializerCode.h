/// Initializers as code: `P_init` computes the first values of params and
/// state from their initializers (uniform, normal, glorot_uniform,
/// he_normal, fill, ...) with the random numbers of runtime/Initializers.h,
/// bit for bit, instead of carrying them as data; an object's size no longer
/// grows with its weights. Literals (and baked checkpoints, `nnc compile
/// --params`) stay data.
#pragma once

#include "codegen/Lowering.h"

namespace nnc {

/// Whether value `id` of `g` is computed by code (false: a literal, stored as data).
bool initializedByCode(const Graph &g, ValueId id);

/// Emits code at the builder's position that writes the initial value of
/// value `id` to `dest`, which holds zeros on entry. Only for
/// initializedByCode() values.
void emitInitializerCode(Lowering &l, const Graph &g, ValueId id, llvm::Value *dest);

} // namespace nnc
