// The stack probes of the compiled functions (codegen/StackProbes.h): the
// x86-64 probe loop counts down in r11, so it must run before anything
// else does, in the entry block. LLVM's shrink-wrapping once moved it past
// the C ABI's argument checks of a bf16 training step, where r11 held the
// batch size, and the step's GEMM stored past C.
#include "JitTestUtil.h"
#include "codegen/Compiler.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

#include <sstream>

namespace nnc {
namespace {

using namespace jittest;

/// The functions of `assembly`: name -> its instructions, in order.
std::vector<std::pair<std::string, std::vector<std::string>>>
functionsOf(const std::string &assembly) {
  std::vector<std::pair<std::string, std::vector<std::string>>> functions;
  std::istringstream in(assembly);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind(".Lfunc_begin", 0) == 0 || line.empty())
      continue;
    if (line[0] != '\t' && line[0] != '.' && line[0] != '#' && line.back() == ':') {
      functions.push_back({line.substr(0, line.size() - 1), {}});
      inside = true;
    } else if (line.rfind(".Lfunc_end", 0) == 0) {
      inside = false;
    } else if (inside && line[0] == '\t' && line[1] != '.') {
      functions.back().second.push_back(line);
    }
  }
  return functions;
}

/// In every function of `text`'s inference and training step (compiled
/// for `cpu`) that probes its frame, nothing branches or touches r11 before
/// the probe loop sets r11 from the stack pointer.
void expectProbesFirst(const std::string &text, const std::string &cpu) {
  Graph model = parsedOrFail(text);
  PassContext ctx;
  Result<Graph> step = optimizedTrainingStep(model, ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  CompileOptions options;
  options.cpu = cpu;
  auto assembly = emitText(planOptimized(model, &*step, ctx), options, "asm");
  ASSERT_TRUE(assembly.ok()) << assembly.errorText();
  int probed = 0;
  for (const auto &[name, instructions] : functionsOf(*assembly)) {
    size_t probe = 0;
    while (probe < instructions.size() &&
           instructions[probe].find("%rsp, %r11") == std::string::npos)
      ++probe;
    if (probe == instructions.size())
      continue;
    ++probed;
    for (size_t i = 0; i < probe; ++i) {
      const std::string &inst = instructions[i];
      bool branches = inst.rfind("\tj", 0) == 0;
      EXPECT_FALSE(branches || inst.find("%r11") != std::string::npos)
          << name << ": before the stack probe: " << inst;
    }
  }
  EXPECT_GT(probed, 2) << text; // the graph functions and the GEMM tasks
}

// A bf16 step whose GEMM tasks keep their rows of A's pairs on the stack,
// and the Transformer's step, whose graph function has an 86 KiB frame
// and was shrink-wrapped past the argument checks before the fix.
TEST(StackProbes, RunBeforeAnythingElseInEveryFunction) {
  expectProbesFirst("model m {\n  dim B\n  input x: f32[B, 40]\n  input t: f32[B, 3]\n"
                    "  param w0: f32[40, 1030] = uniform(-0.3, 0.3, seed=5)\n"
                    "  param w1: f32[1030, 3] = uniform(-0.05, 0.05, seed=6)\n"
                    "  y = matmul(relu(matmul(x, w0, precision=bf16)), w1, precision=bf16)\n"
                    "  loss = mse(y, t)\n  output y\n"
                    "  minimize loss with sgd(lr=0.05)\n}\n",
                    "sapphirerapids");
  expectProbesFirst(exampleText("transformer_lm.ir"), "znver4");
}

} // namespace
} // namespace nnc
