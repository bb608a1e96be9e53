/// `nnc opt M.ir [--passes=a,b] [--list-passes] [--print-after-all] [-o OUT.ir]`:
/// run passes and print the result in canonical form.
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/schedule/KernelSchedule.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/OutputFile.h"

#include <cstdio>

namespace nnc::cli {

namespace {

int listPasses() {
  for (const PassInfo &p : allPasses())
    std::printf("  %-14s %s\n", p.name, p.description);
  return 0;
}

/// `text` with each line turned into a `#` comment.
std::string commented(const std::string &text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    out += "# " + text.substr(start, end - start) + "\n";
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

/// --passes, else the default pipeline (IR.md section 4, passes/Pipeline.h):
/// the training step when the model has one, else (or with
/// --pipeline=infer) the inference graph.
Result<Graph> runPasses(const CommandLine &cl, Graph g, PassContext &ctx) {
  if (cl.has("passes")) {
    auto parsed = parsePipeline(cl.get("passes"));
    if (!parsed)
      return Result<Graph>(parsed.takeDiags());
    if (Status s = runPipeline(g, *parsed, ctx); !s)
      return Result<Graph>(s.takeDiags());
    return g;
  }
  std::string pipeline = cl.get("pipeline");
  bool train = pipeline == "train" || (pipeline.empty() && hasTrainingStep(g));
  return train ? optimizedTrainingStep(std::move(g), ctx) : optimizedInference(std::move(g), ctx);
}

} // namespace

const CommandSpec &optCommandSpec() {
  static const CommandSpec spec{
      "opt",
      "M.ir [options]",
      "run passes (default: the whole pipeline) and print the result",
      "Runs passes over the model and prints the result in canonical form. Without\n"
      "--passes: the whole default pipeline, the optimized training step when the model\n"
      "has a training step, else (or with --pipeline=infer) the optimized inference graph.",
      {
          option("passes", "P1,P2", "run these passes, in this order (see --list-passes)"),
          option("pipeline", "train|infer", "which default pipeline to run"),
          allowExternalPathsOption(),
          flag("list-passes", "name every pass with what it does"),
          flag("print-after-all", "print the graph after each pass on stderr (as comments)"),
          flag("remarks", "say on stderr what each fusion did or did not do, and why"),
          flag("print-schedule",
               "after the graph, the kernel schedule (which kernel computes which node) as "
               "comments"),
          option("o", "OUT.ir", "write the result to OUT.ir instead of stdout"),
      },
      {"nnc opt examples/mlp.ir --remarks", "nnc opt examples/xor.ir --passes=autodiff,cse"},
      Positionals::AtMostOne}; // none with --list-passes
  return spec;
}

int optCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, optCommandSpec(), status);
  if (!cl)
    return status;
  if (cl->has("list-passes"))
    return listPasses();
  if (cl->positional.empty())
    return usageError(optCommandSpec());
  std::string pipeline = cl->get("pipeline");
  if (!pipeline.empty() && pipeline != "train" && pipeline != "infer")
    return fail("--pipeline must be 'train' or 'infer', got '" + pipeline + "'");
  Result<Graph> g = loadModelArgument(*cl);
  if (!g)
    return report(g.diags());

  PassContext ctx;
  ctx.remarks = cl->has("remarks"); // fusion decisions, as remarks on stderr
  if (cl->has("print-after-all"))
    ctx.afterPass = [](const std::string &name, const Graph &after) {
      // A comment line (IR.md section 1): every section parses as a model.
      std::fprintf(stderr, "# ----- after %s -----\n%s", name.c_str(), printGraph(after).c_str());
    };
  Result<Graph> optimized = runPasses(*cl, std::move(g).value(), ctx);
  report(ctx.diags);
  if (!optimized)
    return report(optimized.diags());
  std::string text = printGraph(*optimized);
  if (cl->has("print-schedule")) // as comments: the output still parses
    text += commented(printSchedule(*optimized, scheduleKernels(*optimized)));
  return writeOutput(cl->get("o", "-"), text);
}

} // namespace nnc::cli
