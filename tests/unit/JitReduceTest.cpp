/// The JIT against the reference interpreter, for the Reduce, Norm and Loss
/// families (forward and gradient ops), and the run-time label check.
#include "tests/unit/JitTestUtil.h"
#include "codegen/Session.h"
#include "codegen/Compiler.h"
#include "codegen/Layout.h"
#include "frontend/Parser.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace nnc {
namespace {

using namespace jittest;

const int64_t kBatches[] = {1, 3, 64};

/// The axes sets tried on x: f32[B, 3, 4, 5] (contiguous, scattered, all).
const char *const kAxes[] = {"",
                             "axes=[1]",
                             "axes=[0]",
                             "axes=[-1]",
                             "axes=[1, 2]",
                             "axes=[0, 2]",
                             "axes=[1, 3]",
                             "axes=[0, 3]",
                             "axes=[0, 1, 2, 3]"};

/// The reduced type of f32[B, 3, 4, 5] over `axes` ("" = all).
std::string reducedType(const std::string &axes, bool keep) {
  const char *dims[] = {"B", "3", "4", "5"};
  bool reduced[4] = {axes.empty(), axes.empty(), axes.empty(), axes.empty()};
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] >= '0' && axes[i] <= '3') {
      int axis = axes[i] - '0';
      reduced[i > 0 && axes[i - 1] == '-' ? 4 - axis : axis] = true;
    }
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (reduced[i] && !keep)
      continue;
    out += (out.empty() ? "" : ", ") + std::string(reduced[i] ? "1" : dims[i]);
  }
  return "f32[" + out + "]";
}

std::string withAxes(const std::string &axes, bool keep) {
  std::string a = axes;
  if (keep)
    a += std::string(a.empty() ? "" : ", ") + "keepdims=true";
  return a.empty() ? "" : ", " + a;
}

TEST(JitReduce, SumMeanMaxOverAxesSets) {
  for (const char *op : {"sum", "mean", "max"})
    for (bool keep : {false, true}) {
      std::string body, outs;
      int k = 0;
      for (const char *axes : kAxes) {
        std::string name = "y" + std::to_string(k++);
        body += " " + name + " = " + op + "(x" + withAxes(axes, keep) + ")\n";
        outs += (outs.empty() ? "" : ", ") + name;
      }
      // A static 1 between reduced dims keeps the reduction contiguous.
      body +=
          std::string(" z0 = ") + op + "(u, axes=[0, 2]" + (keep ? ", keepdims=true" : "") + ")\n";
      body +=
          std::string(" z1 = ") + op + "(u, axes=[1, 2]" + (keep ? ", keepdims=true" : "") + ")\n";
      body += std::string(" z2 = ") + op + "(u, axes=[0]" + (keep ? ", keepdims=true" : "") + ")\n";
      outs += ", z0, z1, z2";
      for (int64_t batch : kBatches)
        expectJitMatchesInterpreter("model m {\n dim B\n input x: f32[B, 3, 4, 5]\n"
                                    " input u: f32[B, 1, 37]\n" +
                                        body + " output " + outs + "\n}\n",
                                    {batch});
    }
}

TEST(JitReduce, ScalarAndWideReductions) {
  for (int64_t batch : kBatches)
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input s: f32[]\n input x: f32[B, 300]\n input w: f32[B, 700]\n"
        " a = sum(s)\n b = max(s)\n c = mean(x)\n d = sum(x, axes=[0])\n e = max(w, axes=[0])\n"
        " f = mean(w, axes=[0], keepdims=true)\n g = sum(w)\n output a, b, c, d, e, f, g\n}\n",
        {batch});
}

TEST(JitReduce, ReductionGradients) {
  for (const char *op : {"sum_grad", "mean_grad", "max_grad"})
    for (bool keep : {false, true})
      for (int64_t batch : kBatches) {
        std::string text = "model m {\n dim B\n input x: f32[B, 3, 4, 5]\n";
        std::string body, outs;
        int k = 0;
        for (const char *axes : kAxes) {
          std::string d = "d" + std::to_string(k), y = "y" + std::to_string(k);
          ++k;
          text += " input " + d + ": " + reducedType(axes, keep) + "\n";
          body += " " + y + " = " + op + "(x, " + d + withAxes(axes, keep) + ")\n";
          outs += (outs.empty() ? "" : ", ") + y;
        }
        expectJitMatchesInterpreter(text + body + " output " + outs + "\n}\n", {batch});
      }
}

TEST(JitReduce, MaxGradSplitsTies) {
  // round() makes ties common: the gradient is shared among them.
  for (int64_t batch : kBatches)
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 16]\n input d: f32[B]\n input e: f32[16]\n"
        " input f: f32[B, 1]\n"
        " r = step(x)\n y = max_grad(r, d, axes=[1])\n z = max_grad(r, e, axes=[0])\n"
        " w = max_grad(r, f, axes=[-1], keepdims=true)\n output y, z, w\n}\n",
        {batch});
}

TEST(JitReduce, ArgMax) {
  for (int64_t batch : kBatches)
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 3, 17]\n input v: f32[B]\n"
        " a = argmax(x)\n b = argmax(x, axis=0)\n c = argmax(x, axis=1)\n d = argmax(v, axis=0)\n"
        " r = step(x)\n e = argmax(r)\n f = argmax(r, axis=0)\n output a, b, c, d, e, f\n}\n",
        {batch});
}

TEST(JitReduce, SoftmaxAndLogSoftmaxOnAnyAxis) {
  for (const char *op : {"softmax", "log_softmax"})
    for (int64_t batch : kBatches)
      expectJitMatchesInterpreter(
          "model m {\n dim B\n input x: f32[B, 3, 7]\n input w: f32[B, 300]\n"
          " a = " +
              std::string(op) + "(x)\n b = " + op + "(x, axis=0)\n c = " + op +
              "(x, axis=1)\n d = " + op + "(x, axis=-1)\n e = " + op +
              "(mul(w, 20), axis=0)\n"
              " f = " +
              op + "(mul(w, 20))\n output a, b, c, d, e, f\n}\n",
          {batch});
}

TEST(JitReduce, SoftmaxGradients) {
  for (const char *op : {"softmax_grad", "log_softmax_grad"})
    for (int64_t batch : kBatches) {
      std::string fwd = std::string(op) == "softmax_grad" ? "softmax" : "log_softmax";
      std::string o = op;
      expectJitMatchesInterpreter(
          "model m {\n dim B\n input x: f32[B, 3, 7]\n input d: f32[B, 3, 7]\n input w: f32[B, "
          "300]\n"
          " input e: f32[B, 300]\n"
          " y0 = " +
              fwd + "(x, axis=0)\n y1 = " + fwd + "(x, axis=1)\n y2 = " + fwd +
              "(x)\n"
              " y3 = " +
              fwd +
              "(w, axis=0)\n"
              " a = " +
              o + "(y0, d, axis=0)\n b = " + o + "(y1, d, axis=1)\n c = " + o +
              "(y2, d)\n"
              " f = " +
              o + "(y3, e, axis=0)\n g = " + o + "(x, d, axis=-1)\n output a, b, c, f, g\n}\n",
          {batch});
    }
}

TEST(JitReduce, LayerNormAndGradients) {
  for (int64_t batch : kBatches) {
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 3, 33]\n input g: f32[33]\n input b: f32[33]\n"
        " input d: f32[B, 3, 33]\n"
        " far = add(x, 300)\n"
        " y = layernorm(x, g, b)\n z = layernorm(far, g, b, eps=0.001)\n"
        " dx = layernorm_grad(x, g, d)\n dz = layernorm_grad(far, g, d, eps=0.001)\n"
        " dg = layernorm_gamma_grad(x, d)\n dgz = layernorm_gamma_grad(far, d, eps=0.001)\n"
        " output y, z, dx, dz, dg, dgz\n}\n",
        {batch});
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input x: f32[B, 1000]\n input g: f32[1000]\n input b: f32[1000]\n"
        " input d: f32[B, 1000]\n y = layernorm(x, g, b)\n dx = layernorm_grad(x, g, d)\n"
        " dg = layernorm_gamma_grad(x, d)\n output y, dx, dg\n}\n",
        {batch});
  }
}

TEST(JitReduce, ElementwiseLossesAndGradients) {
  // bce's probabilities and targets in [0, 1], with exact 0s and 1s among
  // them so that the log clamp at -100 and the gradient's eps are reached.
  Adjust probabilities = [](const std::string &name, Tensor &t) {
    if (name != "q" && name != "u")
      return;
    for (int64_t i = 0; i < t.numel(); ++i) {
      float v = (t.f32()[i] + 2) / 4;
      t.f32()[i] = name == "q" && i % 7 == 3 ? static_cast<float>(i % 2) : v;
    }
  };
  for (int64_t batch : kBatches)
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input p: f32[B, 3, 5]\n input t: f32[B, 3, 5]\n input dl: f32[]\n"
        " input q: f32[B, 3, 5]\n input u: f32[B, 3, 5]\n st = step(t)\n"
        " a = sse(p, t)\n b = mse(p, t)\n c = bce(q, u)\n c2 = bce(q, st)\n"
        " da = sse_grad(p, t, dl)\n db = mse_grad(p, t, dl)\n dc = bce_grad(q, u, dl)\n"
        " ea = sse_grad(p, t, 0.5)\n eb = mse_grad(p, t, -2)\n ec = bce_grad(q, st, 1)\n"
        " output a, b, c, c2, da, db, dc, ea, eb, ec\n}\n",
        {batch}, 1, probabilities);
}

TEST(JitReduce, SoftmaxCrossEntropyAndGradient) {
  for (int64_t batch : kBatches)
    expectJitMatchesInterpreter(
        "model m {\n dim B\n input logits: f32[B, 10]\n input labels: i32[B]\n input dl: f32[]\n"
        " big = mul(logits, 30)\n"
        " a = softmax_cross_entropy(logits, labels)\n b = softmax_cross_entropy(big, labels)\n"
        " da = softmax_cross_entropy_grad(logits, labels, dl)\n"
        " db = softmax_cross_entropy_grad(big, labels, 1)\n output a, b, da, db\n}\n",
        {batch}, 10);
}

/// A label outside [0, K) makes infer return kAbiBadLabel and write nothing
/// past the outputs.
TEST(JitReduce, OutOfRangeLabelReturnsBadLabel) {
  for (const char *op : {"softmax_cross_entropy", "softmax_cross_entropy_grad"})
    for (int32_t badLabel : {10, -1, 1 << 30, -(1 << 30)})
      for (int64_t batch : {int64_t{1}, int64_t{3}, int64_t{64}}) {
        std::string call = std::string(op) == "softmax_cross_entropy"
                               ? "softmax_cross_entropy(logits, labels)"
                               : "softmax_cross_entropy_grad(logits, labels, 1)";
        std::string text = "model m {\n dim B\n input logits: f32[B, 10]\n input labels: i32[B]\n"
                           " y = " +
                           call + "\n output y\n}\n";
        Result<Graph> g = parseModel(text, "m.ir");
        ASSERT_TRUE(g.ok()) << g.errorText();
        std::vector<int64_t> dims{batch};
        std::vector<Tensor> inputs = randomInputs(*g, dims, 10);
        inputs[1].i32()[batch - 1] = badLabel;
        Interpreter interp(*g);
        EXPECT_FALSE(interp.run(inputs).ok());

        auto jit = jitCompile(*g, nullptr, {});
        ASSERT_TRUE(jit.ok()) << jit.errorText();
        const ModelFunctions &f = (*jit)->functions();
        AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(dims.data()));
        ASSERT_EQ(f.init(state.p), 0);
        std::vector<const void *> in{inputs[0].data(), inputs[1].data()};
        int64_t n = std::string(op) == "softmax_cross_entropy" ? 1 : batch * 10;
        const int64_t guard = 64;
        std::vector<float> out(static_cast<size_t>(n + 2 * guard), 12345.0f);
        std::vector<void *> outPtrs{out.data() + guard};
        EXPECT_EQ(f.infer(state.p, workspace.p, dims.data(), in.data(), outPtrs.data()),
                  kAbiBadLabel)
            << op << " label " << badLabel << " batch " << batch;
        for (float v : out)
          ASSERT_EQ(v, 12345.0f) << "output written despite a bad label";
      }
}

/// The JIT's run-time errors are the interpreter's, with its location: a
/// label out of range, a max over an axis bound to 0 (status 5 in the ABI).
TEST(JitReduce, RunTimeErrorsAreLocatedLikeTheInterpreters) {
  const char *text = "model m {\n dim B\n dim K\n input x: f32[B, K]\n input labels: i32[B]\n"
                     " w = max(x, axes=[1])\n"
                     " loss = softmax_cross_entropy(x, labels)\n output w, loss\n}\n";
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  auto session = JitSession::create(*g, nullptr);
  ASSERT_TRUE(session.ok()) << session.errorText();
  auto expectSameError = [&](const std::vector<Tensor> &inputs, const std::string &message) {
    Interpreter interp(*g);
    Status fromInterp = interp.run(inputs);
    auto fromJit = (*session)->infer(inputs);
    ASSERT_FALSE(fromInterp.ok());
    ASSERT_FALSE(fromJit.ok());
    EXPECT_EQ(fromJit.errorText(), fromInterp.errorText());
    EXPECT_EQ(fromJit.diags().list()[0].message, message);
  };
  Tensor labels = Tensor::i32({2}, std::vector<int32_t>{1, 7});
  expectSameError({Tensor(DType::F32, {2, 4}), labels},
                  "softmax_cross_entropy: label 7 in row 1 is outside [0, 4)");
  expectSameError({Tensor(DType::F32, {2, 0}), Tensor::i32({2}, std::vector<int32_t>{0, 0})},
                  "max: cannot reduce over an empty axis of f32[2, 0]");
}

} // namespace
} // namespace nnc
