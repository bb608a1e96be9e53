/// The one builder of counted loops in LLVM IR: every loop the lowerings
/// emit (element-wise nests, reductions, GEMM panels, convolution taps)
/// comes from buildLoop, which differ only in their step, the values they
/// carry and what they ask of LLVM's loop passes (LoopHints).
#pragma once

#include <llvm/IR/Value.h>

#include <functional>
#include <vector>

namespace nnc {

class Lowering;

/// What a loop asks of LLVM's vectorizer and unroller, written into its
/// `llvm.loop` metadata. The defaults ask nothing: LLVM decides.
struct LoopHints {
  enum class Vectorize { Auto, Enable, Disable };
  Vectorize vectorize = Vectorize::Auto;
  unsigned unroll = 0;     ///< 0: LLVM decides; 1: never unroll; n > 1: unroll n times
  unsigned interleave = 0; ///< 0: LLVM decides; n: interleave the vector body n times

  static LoopHints vectorized() { return {Vectorize::Enable, 0, 0}; }
  static LoopHints scalar() { return {Vectorize::Disable, 0, 0}; }
  static LoopHints unrolled(unsigned count) { return {Vectorize::Auto, count, 0}; }
};

/// The body of a loop: given the induction variable and the carried values
/// at the top of the iteration, emits the iteration and gives the carried
/// values for the next one.
using LoopBody =
    std::function<std::vector<llvm::Value *>(llvm::Value *, const std::vector<llvm::Value *> &)>;

/// for (i = begin; i < end; i += step) with the values `carried` threaded
/// through the body; leaves the builder after the loop and gives the
/// carried values there.
std::vector<llvm::Value *> buildLoop(Lowering &l, llvm::Value *begin, llvm::Value *end,
                                     llvm::Value *step, const std::vector<llvm::Value *> &carried,
                                     const LoopBody &body, LoopHints hints = {});

/// for (i = begin; i < end; ++i) body(i), carrying nothing.
void buildLoop(Lowering &l, llvm::Value *begin, llvm::Value *end,
               const std::function<void(llvm::Value *)> &body, LoopHints hints = {});

} // namespace nnc
