/// Mixed precision (bf16): every matmul and convolution of a graph, forward
/// and backward, reads its operands as bfloat16 (precision=bf16, IR.md
/// section 3); everything else stays f32: params and their updates,
/// optimizer states, reductions, normalization, softmax, losses, and the
/// fused attention. The products are exact in f32 and summed in f32, as
/// Kalamkar et al. 2019 (arXiv 1905.12322) and PyTorch's CPU autocast do;
/// no loss scaling (bf16 has f32's exponent range).
///
/// The pipeline runs it last, on the optimized graphs (`nnc train
/// --precision bf16`, CompileOptions::precision), so fusion never has to
/// carry the attribute; a model may also set `precision=bf16` on single ops.
#pragma once

#include "passes/Pass.h"

namespace nnc {

/// Sets precision=bf16 on every node that has the attribute; returns
/// whether anything changed.
bool applyBf16Products(Graph &g);

std::unique_ptr<Pass> createMixedPrecisionPass();

/// The first node of `g` with precision=bf16, or null.
const Node *firstBf16Node(const Graph &g);

} // namespace nnc
