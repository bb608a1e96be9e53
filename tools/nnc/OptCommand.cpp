/// `nnc opt M.ir [--passes=a,b] [--list-passes] [--print-after-all] [-o OUT.ir]`:
/// run passes and print the result in canonical form.
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
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

/// The default pipeline (IR.md section 4): the training step when the model
/// minimizes a loss, else the inference graph.
std::vector<std::string> defaultPipeline(const Graph &g, const std::string &which) {
  if (which == "train" || (which.empty() && g.minimize))
    return {"autodiff"};
  return {};
}

} // namespace

int optCommand(const Args &args) {
  auto cl = CommandLine::parse(args, {{"passes", true},
                                      {"pipeline", true},
                                      {"list-passes", false},
                                      {"print-after-all", false},
                                      {"o", true}});
  if (!cl)
    return report(cl.diags());
  if (cl->has("list-passes"))
    return listPasses();
  if (cl->positional.size() != 1)
    return fail("usage: nnc opt M.ir [--passes=p1,p2,...] [--pipeline=train|infer] [-o OUT.ir]");
  std::string pipeline = cl->get("pipeline");
  if (!pipeline.empty() && pipeline != "train" && pipeline != "infer")
    return fail("--pipeline must be 'train' or 'infer', got '" + pipeline + "'");
  Result<Graph> g = loadModelFile(cl->positional[0]);
  if (!g)
    return report(g.diags());
  if (Diagnostics problems = verifyGraph(*g); problems.hasErrors())
    return report(problems);

  std::vector<std::string> passes = defaultPipeline(*g, pipeline);
  if (cl->has("passes")) {
    auto parsed = parsePipeline(cl->get("passes"));
    if (!parsed)
      return report(parsed.diags());
    passes = *parsed;
  }
  PassContext ctx;
  if (cl->has("print-after-all"))
    ctx.afterPass = [](const std::string &name, const Graph &after) {
      std::fprintf(stderr, "// ----- after %s -----\n%s", name.c_str(), printGraph(after).c_str());
    };
  Status ran = runPipeline(*g, passes, ctx);
  report(ctx.diags);
  if (!ran)
    return report(ran.diags());
  return writeOutput(cl->get("o", "-"), printGraph(*g));
}

} // namespace nnc::cli
