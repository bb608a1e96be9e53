/// Horizontal fusion of row reductions: a bias, beta or gamma gradient (a
/// sum over the rows of a gradient d, or of d xhat) is computed by a kernel
/// that reads d row by row anyway, instead of by a pass of its own.
///
///   guest                                    host
///   sum(d, rows), fused_matmul_grad_bias     fused_matmul_grad_weight(x, d, z),
///                                            matmul(x, d) (as it packs d)
///   sum(d, rows), (fused_add_)layernorm_     (fused_add_)layernorm_grad(x, [r,]
///     gamma_grad(x, [r,] d)                    gamma, d) (its pass over each row)
///   sum(d, rows)                             (fused_add_)layernorm_gamma_grad,
///                                            when no layernorm gradient hosts it
///
/// So the layernorm backward is one pass giving the input (and residual),
/// gamma and beta gradients. The reductions are guests of their host
/// (passes/schedule/KernelSchedule.h). A guest is hosted only when every reader of its
/// result comes after the host; a host takes at most one sum and one gamma
/// gradient.
#pragma once

#include "passes/schedule/KernelSchedule.h"

namespace nnc {

/// Adds the row-sum guests of `g` to `s`.
void scheduleRowSums(const Graph &g, KernelSchedule &s);

} // namespace nnc
