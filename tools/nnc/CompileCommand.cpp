/// `nnc compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX]
/// [--target-cpu CPU] [--time] [--emit=llvm|asm]`: ahead-of-time object
/// file and C header (IR.md section 6). `--memory-report [--dim B=64]`
/// prints the memory plans instead (symbolic dims default to 64).
#include "codegen/Compiler.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/schedule/MemoryReport.h"
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Checkpoint.h"
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
int printMemoryReport(const CommandLine &cl, const PlannedModel &model) {
  const Graph &infer = model.infer.graph;
  auto dims = readDims(cl, infer);
  if (!dims)
    return report(dims.diags());
  std::string text = memoryReport(infer, model.infer.plan, *dims, infer.name + " infer", false);
  if (model.train)
    text += "\n" + memoryReport(model.train->graph, model.train->plan, *dims,
                                infer.name + " train_step", true);
  std::fputs(text.c_str(), stdout);
  return 0;
}

/// -o, --header: checked before any work, written together or not at all.
Status checkOutputs(const CommandLine &cl) {
  for (const char *option : {"o", "header"})
    if (cl.has(option) && cl.get(option) != "-")
      if (Status s = checkOutputPath(cl.get(option)); !s)
        return s;
  if (cl.has("o") && cl.has("header") && cl.get("o") == cl.get("header"))
    return Status::fail("-o and --header name the same file '{}'", cl.get("o"));
  return Ok{};
}

} // namespace

const CommandSpec &compileCommandSpec() {
  static const CommandSpec spec{
      "compile",
      "M.ir -o OUT.o [options]",
      "ahead-of-time object file and C header",
      "Compiles the model's inference graph (and its training step, when it has one)\n"
      "into an object file with the C ABI of IR.md section 6, and with --header the C\n"
      "header that declares it. The object needs only libc and libm. By default it is\n"
      "compiled for this machine's CPU (its features, e.g. AVX-512, included);\n"
      "--target-cpu x86-64 gives an object that runs on any x86-64 CPU, and\n"
      "P_cpu_supported() tells a program whether the CPU it runs on can run the code.\n"
      "-o and --header are written together or not at all.",
      {
          option("o", "OUT.o", "the object file (with --emit: the text, '-' for stdout)"),
          option("header", "OUT.h", "also write the C header"),
          option("name", "PREFIX", "the C symbol prefix (default: the model's name)"),
          option("target-cpu", "CPU",
                 "an LLVM CPU name (default: this host's); x86-64 is portable"),
          option("params", "P",
                 "bake a checkpoint's params and state into the object as its initial values"),
          flag("split-step", "also the training step cut at the gradients: "
                             "P_compute_gradients and P_apply_gradients (data parallelism)"),
          precisionOption(),
          flag("time", "print how long each phase took"),
          option("emit", "llvm|asm", "write the optimized LLVM IR or the assembly instead"),
          flag("memory-report", "print the memory plans (kernels, buffers, lifetimes)"),
          repeated("dim", "NAME=N", "with --memory-report: a dim's value (default 64)"),
          allowExternalPathsOption(),
          flag("no-cache", "compile without the disk cache of compiled code"),
      },
      {"nnc compile examples/xor.ir -o xor.o --header xor.h",
       "nnc compile examples/mlp.ir -o mlp.o --target-cpu x86-64 --name mlp"}};
  return spec;
}

int compileCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, compileCommandSpec(), status);
  if (!cl)
    return status;
  if (!cl->has("o") && !cl->has("emit") && !cl->has("memory-report"))
    return usageError(compileCommandSpec());
  if ((cl->has("memory-report") || cl->has("emit")) && cl->has("header") && !cl->has("o"))
    return fail("--header needs -o OUT.o (the object it declares)");
  if (cl->has("emit") && cl->has("header"))
    return fail("--emit writes text, not an object: it takes no --header");
  if (Status s = checkOutputs(*cl); !s)
    return report(s.diags());
  auto start = std::chrono::steady_clock::now();
  Result<Graph> model = loadModelArgument(*cl);
  if (!model)
    return report(model.diags());
  CompileOptions options;
  options.prefix = cl->get("name", model->name);
  options.cpu = cl->get("target-cpu");
  options.useCache = !cl->has("no-cache");
  if (!isCIdentifier(options.prefix))
    return fail(fmt::format("--name '{}' is not a C identifier", options.prefix));

  if (cl->has("split-step") && !model->minimize)
    return fail(fmt::format("--split-step: model '{}' has no 'minimize', so no gradients to split "
                            "its training step at",
                            model->name));
  PassContext ctx;
  PlanRequest request;
  request.splitTrainingStep = cl->has("split-step");
  auto bf16 = bf16ProductsOption(*cl, options.cpu);
  if (!bf16)
    return report(bf16.diags());
  request.bf16Products = *bf16;
  auto planned = planModel(*model, ctx, request);
  if (!planned)
    return report(planned.diags());
  report(ctx.diags);
  if (cl->has("params"))
    for (PlannedGraph *g : {&planned->infer, planned->train ? &*planned->train : nullptr})
      if (g)
        if (Status s = bakeCheckpoint(g->graph, cl->get("params")); !s)
          return report(s.diags());
  if (cl->has("memory-report")) {
    if (int status = printMemoryReport(*cl, *planned); status != 0 || !cl->has("o"))
      return status;
  }
  double passesMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (cl->has("emit")) {
    auto text = emitText(*planned, options, cl->get("emit"));
    if (!text)
      return report(text.diags());
    return writeOutput(cl->get("o", "-"), *text);
  }
  CompileTimes times;
  auto object = compileObject(*planned, options, &times);
  if (!object)
    return report(object.diags());
  std::vector<std::pair<std::string, std::string>> files = {{cl->get("o"), std::move(*object)}};
  if (cl->has("header"))
    files.emplace_back(cl->get("header"),
                       cHeader(planned->infer.graph, planned->trainGraph(), options,
                               planned->split ? &*planned->split : nullptr));
  if (Status s = writeFilesAtomically(files); !s)
    return report(s.diags());
  if (cl->has("time")) {
    for (const auto &[step, ms] : ctx.stepMs)
      std::fprintf(stderr, "%s %.1f ms, ", step.c_str(), ms);
    std::fprintf(stderr,
                 "(parse to memory plan %.1f ms), lower %.1f ms, optimize %.1f ms, codegen %.1f "
                 "ms%s\n",
                 passesMs, times.lowerMs, times.optimizeMs, times.codegenMs,
                 times.fromCache ? " (object from the cache)" : "");
  }
  return 0;
}

} // namespace nnc::cli
