/// fuse-elementwise and the fused_elementwise op: what the pass groups and
/// why not, the printed program, the errors of a malformed program, and the
/// JIT against the interpreter for programs of every element-wise kind.
#include "JitTestUtil.h"

#include "ir/Printer.h"
#include "passes/Pass.h"

#include <gtest/gtest.h>

namespace nnc {
namespace {

const char *kChain = "model m {\n"
                     "  dim B\n"
                     "  input x: f32[B, 4]\n"
                     "  input b: f32[4]\n"
                     "  t = exp(x - b)\n"
                     "  u = t * 2 + x\n"
                     "  v = sigmoid(u)\n"
                     "  w = relu(u)\n"
                     "  s = b * 3\n"
                     "  y = tanh(x + s)\n"
                     "  output v, w, y\n"
                     "}\n";

Graph fuse(const std::string &text, PassContext &ctx) {
  Result<Graph> g = parseModel(text, "model.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  Graph out = std::move(g).value();
  ctx.remarks = true;
  Status ran = runPipeline(out, {"fuse-elementwise"}, ctx);
  EXPECT_TRUE(ran.ok()) << ran.errorText();
  return out;
}

// A chain folds into its last op; a value read twice, or of a smaller
// (broadcast) type, stays a value of its own.
TEST(FuseElementwise, GroupsChainsUpToValuesReadTwice) {
  PassContext ctx;
  std::string printed = printGraph(fuse(kChain, ctx));
  EXPECT_NE(printed.find("  u: f32[B, 4] = fused_elementwise(x, b, 2, program=[[sub, 0, 1], "
                         "[exp, 3], [mul, 4, 2], [add, 5, 0]])\n"
                         "  v: f32[B, 4] = sigmoid(u)\n"
                         "  w: f32[B, 4] = relu(u)\n"
                         "  s: f32[4] = mul(b, 3)\n"
                         "  y: f32[B, 4] = fused_elementwise(x, s, program=[[add, 0, 1], "
                         "[tanh, 2]])\n"),
            std::string::npos)
      << printed;
  std::string remarks = ctx.diags.render();
  EXPECT_NE(remarks.find("model.ir:6:13: remark: add not fused with relu: 2 ops read its result, "
                         "not all of them in the chain"),
            std::string::npos)
      << remarks;
  EXPECT_NE(remarks.find("model.ir:9:9: remark: mul not fused with add: it gives f32[4], the chain "
                         "f32[B, 4]: a fused loop computes every value at the chain's shape"),
            std::string::npos)
      << remarks;
  EXPECT_NE(remarks.find("model.ir:6:13: remark: 4 element-wise ops fused into fused_elementwise"),
            std::string::npos)
      << remarks;
}

TEST(FuseElementwise, KeepsOutputsAndIntegerOps) {
  PassContext ctx;
  Graph g = fuse("model m {\n  dim B\n  input x: f32[B, 4]\n  input k: i32[B]\n"
                 "  h = exp(x)\n  y = h * 2\n  j = k + k\n  z = j * k\n  output h, y, z\n}\n",
                 ctx);
  for (const Node &n : g.nodes)
    EXPECT_NE(n.op, OpKind::FusedElementwise) << printGraph(g);
  EXPECT_NE(ctx.diags.render().find("exp not fused with mul: its result must be kept (an output"),
            std::string::npos);
}

// ---- errors of a malformed program: one per kind, at the call ------------------

std::string firstError(const std::string &call) {
  std::string text = "model m {\n  dim B\n  input x: f32[B, 3]\n  input r: f32[3]\n"
                     "  input c: f32[2]\n  y = " +
                     call + "\n  output y\n}\n";
  Result<Graph> g = parseModel(text, "m.ir");
  EXPECT_FALSE(g.ok()) << call;
  return g.ok() ? "" : g.diags().list()[0].message;
}

TEST(FuseElementwise, MalformedProgramsAreLocatedErrors) {
  EXPECT_EQ(firstError("fused_elementwise(x, program=[[matmul, 0, 0]])"),
            "fused_elementwise: instruction 0: 'matmul' is not an element-wise op");
  EXPECT_EQ(firstError("fused_elementwise(x, program=[[relu, 1]])"),
            "fused_elementwise: instruction 0: relu: operand 0 must be an integer in [0, 1)");
  EXPECT_EQ(firstError("fused_elementwise(x, r, program=[[relu, 0]])"),
            "fused_elementwise: input 1 is never read");
  EXPECT_EQ(firstError("fused_elementwise(x, program=[[relu, 0], [exp, 0]])"),
            "fused_elementwise: the result of instruction 0 is never read");
  EXPECT_EQ(firstError("fused_elementwise(x, program=[[add, 0]])"),
            "fused_elementwise: instruction 0: add takes 2 operand(s) and 0 attribute(s), got 1 "
            "value(s)");
  EXPECT_EQ(
      firstError("fused_elementwise(x, c, program=[[add, 0, 1]])"),
      "fused_elementwise: instruction 0 (add): shapes do not broadcast: f32[B, 3] and f32[2]");
  EXPECT_EQ(firstError("fused_elementwise(x, program=[relu, 0])"),
            "fused_elementwise: attribute 'program' must be a list of instructions [op, "
            "operands..., attributes...]");
  EXPECT_EQ(firstError("fused_elementwise(x)"), "fused_elementwise: missing attribute 'program'");
}

// ---- the JIT against the interpreter -------------------------------------------

std::string model(const std::string &call) {
  return "model m {\n  dim B\n  input x: f32[B, 5]\n  input r: f32[5]\n  input c: f32[B, 1]\n"
         "  input dy: f32[B, 5]\n  y = " +
         call + "\n  output y\n}\n";
}

TEST(FuseElementwiseJit, ProgramsMatchTheInterpreter) {
  for (const char *call : {
           "fused_elementwise(x, r, program=[[add, 0, 1], [relu, 2]])",
           "fused_elementwise(x, r, c, 0.5, program=[[mul, 0, 3], [sub, 4, 1], [div, 5, 2], "
           "[sigmoid, 6]])",
           "fused_elementwise(x, dy, program=[[tanh, 0], [tanh_grad, 2, 1]])",
           "fused_elementwise(x, dy, program=[[leaky_relu_grad, 0, 1, 0.2], [abs, 2]])",
           "fused_elementwise(x, r, dy, program=[[maximum_grad, 0, 1, 2], [minimum, 3, 0]])",
           "fused_elementwise(x, c, program=[[gelu, 0], [softplus, 2], [eq, 3, 1], [step, 4]])",
           "fused_elementwise(x, program=[[abs, 0], [sqrt, 1], [log, 2], [exp, 3], [neg, 4]])",
       }) {
    SCOPED_TRACE(call);
    jittest::expectJitMatchesInterpreter(model(call));
  }
}

} // namespace
} // namespace nnc
