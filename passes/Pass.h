/// Passes: named graph-to-graph rewrites, and the pipelines that run them.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nnc {

/// What every pass of one pipeline run shares: options, and diagnostics
/// that are not errors (warnings, remarks).
struct PassContext {
  Diagnostics diags;
  bool verifyEach = true; ///< run the verifier after every pass
  /// Fusion passes report every candidate, fused or not and why, as a
  /// remark in `diags` (`nnc opt --remarks`).
  bool remarks = false;
  /// Called after each pass with its name and the graph (--print-after-all).
  std::function<void(const std::string &, const Graph &)> afterPass;
  /// The pipeline's steps as they ran, each with its milliseconds (--time;
  /// passes/Pipeline.h).
  std::vector<std::pair<std::string, double>> stepMs;
  /// A training step fuses an attention (forward and backward) when its
  /// scores take at least this many bytes per example (any symbolic dim
  /// past the first counts as large): below, the unfused backward's GEMMs
  /// are faster, and above, the fused one's memory (no [Tq, Tk] tensor)
  /// matters more (DESIGN.md, "Attention"). 0 fuses every attention.
  int64_t trainingAttentionMinBytes = int64_t{16} << 20;
};

/// A graph rewrite. run() returns whether it changed the graph.
class Pass {
public:
  virtual ~Pass() = default;
  virtual const char *name() const = 0;
  virtual Result<bool> run(Graph &g, PassContext &ctx) = 0;
};

struct PassInfo {
  const char *name;
  const char *description;
  std::function<std::unique_ptr<Pass>()> create;
};

/// Every pass, by name.
const std::vector<PassInfo> &allPasses();
const PassInfo *findPass(const std::string &name);

/// Splits "a,b,c" and checks every name; an unknown name is an error.
Result<std::vector<std::string>> parsePipeline(const std::string &spec);

/// Runs the named passes in order, verifying after each when asked.
Status runPipeline(Graph &g, const std::vector<std::string> &passes, PassContext &ctx);

/// Runs the named passes in order, round after round, until a round changes
/// nothing or `maxRounds` rounds ran (verifying after each pass when asked).
/// Returns whether any pass changed the graph.
Result<bool> runToFixpoint(Graph &g, const std::vector<std::string> &passes, PassContext &ctx,
                           int maxRounds);

} // namespace nnc
