/// `nnc compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX]
/// [--target-cpu CPU] [--time] [--emit=llvm|asm]`: ahead-of-time object
/// file and C header (IR.md section 6).
#include "codegen/Compiler.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
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

} // namespace

int compileCommand(const Args &args) {
  auto cl = CommandLine::parse(args, {{"o", true}, {"header", true}, {"name", true},
                                      {"target-cpu", true}, {"time", false}, {"emit", true},
                                      {"no-cache", false}});
  if (!cl)
    return report(cl.diags());
  if (cl->positional.size() != 1 || (!cl->has("o") && !cl->has("emit")))
    return fail("usage: nnc compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX] "
                "[--target-cpu CPU] [--time] [--emit=llvm|asm]");
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

  std::unique_ptr<Graph> train;
  if (model->minimize) {
    train = std::make_unique<Graph>(*model);
    PassContext ctx;
    if (Status s = runPipeline(*train, {"autodiff"}, ctx); !s)
      return report(s.diags());
    report(ctx.diags);
  }
  double passesMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
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
