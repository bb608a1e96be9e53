/// `nnc compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX]
/// [--target-cpu CPU] [--time] [--emit=llvm|asm]`: ahead-of-time object
/// file and C header (IR.md section 6). `--memory-report [--dim B=64]`
/// prints the memory plans instead (symbolic dims default to 64).
#include "codegen/Compiler.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipelines.h"
#include "passes/memory/MemoryReport.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/OutputFile.h"

#include <cctype>
#include <chrono>
#include <cstdio>

namespace nnc::cli {

namespace {

bool isCIdentifier(const std::string &s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

/// `--memory-report`: the plans of the inference graph and the training step
/// for the dims given as `--dim NAME=N`.
int printMemoryReport(const CommandLine &cl, const Graph &infer, const Graph *train) {
  std::vector<int64_t> dims(infer.dims.size(), 64);
  for (const std::string &given : cl.getAll("dim")) {
    size_t eq = given.find('=');
    int32_t index = eq == std::string::npos ? -1 : infer.findDim(given.substr(0, eq));
    if (index < 0)
      return fail(fmt::format("--dim '{}': expected NAME=N with NAME a dim of the model", given));
    auto n = parsePositiveInt("dim", given.substr(eq + 1));
    if (!n)
      return report(n.diags());
    dims[static_cast<size_t>(index)] = *n;
  }
  std::string text = memoryReport(infer, planMemory(infer), dims, infer.name + " infer", false);
  if (train)
    text += "\n" + memoryReport(*train, planMemory(*train), dims, infer.name + " train_step", true);
  std::fputs(text.c_str(), stdout);
  return 0;
}

} // namespace

int compileCommand(const Args &args) {
  auto cl = CommandLine::parse(args, {{"o", true},
                                      {"header", true},
                                      {"name", true},
                                      {"target-cpu", true},
                                      {"time", false},
                                      {"emit", true},
                                      {"no-cache", false},
                                      {"memory-report", false},
                                      {"dim", true, true}});
  if (!cl)
    return report(cl.diags());
  if (cl->positional.size() != 1 ||
      (!cl->has("o") && !cl->has("emit") && !cl->has("memory-report")))
    return fail("usage: nnc compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX] "
                "[--target-cpu CPU] [--time] [--emit=llvm|asm] [--memory-report [--dim B=64]]");
  auto start = std::chrono::steady_clock::now();
  Result<Graph> model = loadModelFile(cl->positional[0]);
  if (!model)
    return report(model.diags());
  if (Diagnostics problems = verifyGraph(*model); problems.hasErrors())
    return report(problems);
  CompileOptions options;
  options.prefix = cl->get("name", model->name);
  options.cpu = cl->get("target-cpu");
  options.useCache = !cl->has("no-cache");
  if (!isCIdentifier(options.prefix))
    return fail(fmt::format("--name '{}' is not a C identifier", options.prefix));

  PassContext ctx;
  std::unique_ptr<Graph> train;
  if (model->minimize) {
    auto step = optimizedTrainingStep(*model, ctx);
    if (!step)
      return report(step.diags());
    train = std::make_unique<Graph>(std::move(step).value());
  }
  auto infer = optimizedInference(*model, ctx);
  if (!infer)
    return report(infer.diags());
  report(ctx.diags);
  *model = std::move(infer).value();
  if (cl->has("memory-report"))
    return printMemoryReport(*cl, *model, train.get());
  double passesMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (cl->has("emit")) {
    auto text = emitText(*model, train.get(), options, cl->get("emit"));
    if (!text)
      return report(text.diags());
    return writeOutput(cl->get("o", "-"), *text);
  }
  CompileTimes times;
  if (Status s = compileToObject(*model, train.get(), options, cl->get("o"), &times); !s)
    return report(s.diags());
  if (cl->has("header"))
    if (int status = writeOutput(cl->get("header"), cHeader(*model, train.get(), options)))
      return status;
  if (cl->has("time"))
    std::fprintf(stderr,
                 "parse+passes %.1f ms, lower %.1f ms, optimize %.1f ms, codegen %.1f ms%s\n",
                 passesMs, times.lowerMs, times.optimizeMs, times.codegenMs,
                 times.fromCache ? " (object from the cache)" : "");
  return 0;
}

} // namespace nnc::cli
