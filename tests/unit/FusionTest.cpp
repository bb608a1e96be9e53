/// The fusion passes (passes/fusion/): for every example model the fused
/// training step computes what the unfused one computes (interpreter and
/// JIT), the fused ops do appear, each fused op runs the same in the JIT as
/// in the interpreter, and the printed fused graph is a fixed point.
#include "JitTestUtil.h"
#include "codegen/HostInfo.h"

#include "codegen/Session.h"
#include "ir/NodeAttrs.h"
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/schedule/KernelSchedule.h"

#include <filesystem>
#include <map>

namespace nnc {
namespace {

const std::vector<std::string> kFusion = {"fuse-matmul", "fuse-pool-relu", "fuse-conv",
                                          "fuse-add-layernorm", "fuse-elementwise"};

using jittest::loadExample;

Graph runPasses(const Graph &g, std::vector<std::string> passes, PassContext *ctxOut = nullptr) {
  Graph out = g;
  PassContext ctx;
  ctx.remarks = true;
  Status ran = runPipeline(out, passes, ctx);
  EXPECT_TRUE(ran.ok()) << ran.errorText();
  if (ctxOut)
    ctxOut->diags = ctx.diags;
  return out;
}

std::map<std::string, int> opCounts(const Graph &g) {
  std::map<std::string, int> counts;
  for (const Node &n : g.nodes)
    ++counts[n.info().name];
  return counts;
}

int fusedCount(const Graph &g) {
  int n = 0;
  for (const auto &[name, count] : opCounts(g))
    if (name.rfind("fused_", 0) == 0)
      n += count;
  return n;
}

bool close(double a, double b) { return std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b)); }

/// The new value of every updated param and state, by name, and the outputs.
std::map<std::string, Tensor> results(const Graph &g, Interpreter &interp) {
  std::map<std::string, Tensor> out;
  for (const Update &u : g.updates)
    out[g.value(u.target).name] = interp.value(u.value);
  for (const OutputRef &o : g.outputs)
    out["output " + g.value(o.value).name] = interp.value(o.value);
  return out;
}

void expectSameTensors(const std::map<std::string, Tensor> &got,
                       const std::map<std::string, Tensor> &want, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto &[name, w] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << name << " missing in " << what;
    ASSERT_EQ(it->second.numel(), w.numel()) << name;
    for (int64_t i = 0; i < w.numel(); ++i)
      ASSERT_TRUE(close(it->second.at(i), w.at(i)))
          << what << ": " << name << "[" << i << "] = " << it->second.at(i) << ", want " << w.at(i);
  }
}

/// One training step of `example`, unfused and fused, at batch 3: the
/// interpreter on both graphs, and the JIT on the fused one, agree on the
/// outputs (the loss among them) and every updated param and state.
void expectFusionKeepsTheStep(const std::string &example) {
  SCOPED_TRACE(example);
  Graph model = loadExample(example);
  Graph step = runPasses(model, {"autodiff"});
  std::vector<std::string> passes = {"autodiff"};
  passes.insert(passes.end(), kFusion.begin(), kFusion.end());
  Graph fused = runPasses(model, passes);
  std::vector<int64_t> dims(model.dims.size(), 3);
  std::vector<Tensor> inputs = jittest::randomInputs(step, dims, 2);

  Interpreter plain(step), withFusion(fused);
  ASSERT_TRUE(plain.run(inputs).ok());
  Status ran = withFusion.run(inputs);
  ASSERT_TRUE(ran.ok()) << ran.errorText();
  std::map<std::string, Tensor> want = results(step, plain);
  expectSameTensors(results(fused, withFusion), want, "interpreter, fused");

  // The JIT, fused against unfused: one step with Adam turns gradients near
  // its eps into updates of about lr either way, so the two engines (f32
  // against f64 accumulation) are compared by JitTrainingTest on milder
  // inputs; here the fused kernels must match the unfused kernels.
  auto jitPlain = JitSession::create(model, &step);
  auto jitFused = JitSession::create(model, &fused);
  ASSERT_TRUE(jitPlain.ok()) << jitPlain.errorText();
  ASSERT_TRUE(jitFused.ok()) << jitFused.errorText();
  auto lossPlain = (*jitPlain)->trainStep(inputs);
  auto lossFused = (*jitFused)->trainStep(inputs);
  ASSERT_TRUE(lossPlain.ok() && lossFused.ok());
  double wantLoss = plain.value(step.minimize->loss).at(0);
  EXPECT_TRUE(close(*lossFused, wantLoss)) << *lossFused << " vs " << wantLoss;
  EXPECT_TRUE(close(*lossFused, *lossPlain)) << *lossFused << " vs " << *lossPlain;
  std::map<std::string, Tensor> got, wantJit;
  for (const Update &u : step.updates) {
    const std::string &name = step.value(u.target).name;
    got[name] = (*jitFused)->read(name);
    wantJit[name] = (*jitPlain)->read(name);
  }
  expectSameTensors(got, wantJit, "JIT, fused against unfused");
}

TEST(Fusion, EveryExampleTrainsTheSameFused) {
  int checked = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(std::string(NNC_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".ir")
      continue;
    Graph g = loadExample(entry.path().filename().string());
    if (!g.minimize)
      continue;
    expectFusionKeepsTheStep(entry.path().filename().string());
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

TEST(Fusion, MlpTrainingStepCounts) {
  Graph model = loadExample("mlp.ir");
  Graph step = runPasses(model, {"autodiff"});
  Graph fused = runPasses(model, {"autodiff", "fuse-matmul", "fuse-add-layernorm"});
  std::map<std::string, int> c = opCounts(fused);
  EXPECT_EQ(c["fused_matmul"], 3);
  EXPECT_EQ(c["fused_matmul_grad_input"], 1);
  EXPECT_EQ(c["fused_matmul_grad_weight"], 2);
  EXPECT_EQ(c["fused_matmul_grad_bias"], 2);
  EXPECT_EQ(c["relu"] + c["relu_grad"] + c["add"], 0);
  EXPECT_EQ(step.nodes.size(), 35u); // with the pixels' sub and div
  EXPECT_EQ(fused.nodes.size(), 28u);
}

TEST(Fusion, ResNetTrainingStepCounts) {
  Graph model = loadExample("resnet_s.ir");
  Graph fused = runPasses(model, {"autodiff", "fuse-matmul", "fuse-add-layernorm"});
  std::map<std::string, int> c = opCounts(fused);
  EXPECT_EQ(c["fused_matmul"], 8);
  EXPECT_EQ(c["fused_add_layernorm"], 3);
  EXPECT_EQ(c["fused_add_layernorm_grad"], 3);
  EXPECT_EQ(c["fused_add_layernorm_gamma_grad"], 3);
  EXPECT_EQ(c["fused_matmul_grad_input"], 6);
  EXPECT_EQ(c["fused_matmul_grad_weight"], 6);
  EXPECT_EQ(c["fused_matmul_grad_bias"], 6);
  EXPECT_EQ(c["layernorm"] + c["layernorm_grad"] + c["relu"] + c["relu_grad"], 0);
  EXPECT_EQ(fusedCount(fused), 35);
}

/// fuse-pool-relu: both relu gradients of the CNN run on the pooled side
/// (a quarter of the data) and the step keeps its bits in the interpreter.
TEST(Fusion, CnnReluGradientsMovePastTheirPools) {
  Graph model = loadExample("fashion_cnn.ir");
  Graph before = runPasses(model, {"autodiff", "fuse-matmul"});
  Graph after = runPasses(model, {"autodiff", "fuse-matmul", "fuse-pool-relu"});
  std::map<std::string, int> c = opCounts(after);
  EXPECT_EQ(c["relu_grad"], 2);
  EXPECT_EQ(c["maxpool2d_grad"], 2);
  for (const Node &n : after.nodes) {
    if (n.op != OpKind::ReluGrad)
      continue;
    const Node &mask = after.node(after.value(n.operands[0]).def);
    EXPECT_EQ(mask.op, OpKind::MaxPool2d) << "the mask is the pooled activation";
    EXPECT_EQ(after.type(n.result), after.type(mask.result));
  }
  std::vector<int64_t> dims(model.dims.size(), 3);
  std::vector<Tensor> inputs = jittest::randomInputs(before, dims, 5);
  Interpreter plain(before), moved(after);
  ASSERT_TRUE(plain.run(inputs).ok());
  ASSERT_TRUE(moved.run(inputs).ok());
  std::map<std::string, Tensor> want = results(before, plain), got = results(after, moved);
  ASSERT_EQ(got.size(), want.size());
  for (const auto &[name, w] : want)
    for (int64_t i = 0; i < w.numel(); ++i)
      ASSERT_EQ(got[name].at(i), w.at(i)) << name << "[" << i << "]";
}

/// fuse-pool-relu on overlapping (3x3, stride 1) and tiling (2x2, a row and
/// a column uncovered) windows with ties, NaNs, zeros of both signs and
/// infinities in y: the same bits before and after, in the interpreter and
/// in the JIT. A maxpool2d after the pool gradient is not taken (the mask
/// would read it before it is computed).
TEST(Fusion, PoolReluRewriteKeepsEveryBit) {
  for (const char *window : {"kernel=3, stride=1", "kernel=2"}) {
    SCOPED_TRACE(window);
    bool tiling = std::string(window) == "kernel=2";
    std::string dy = tiling ? "f32[2, 2, 2, 3]" : "f32[2, 2, 3, 5]";
    std::string w = std::string(", ") + window + ")";
    std::string text = "model m {\n input y: f32[2, 2, 5, 7]\n input dy: " + dy + "\n" +
                       " p = maxpool2d(y" + w + "\n g = maxpool2d_grad(y, dy" + w + "\n" +
                       " r = relu_grad(y, g)\n output p, r\n}\n";
    Result<Graph> g = parseModel(text, "m.ir");
    ASSERT_TRUE(g.ok()) << g.errorText();
    Graph moved = runPasses(*g, {"fuse-pool-relu"});
    EXPECT_EQ(opCounts(moved)["relu_grad"], 1);
    EXPECT_EQ(moved.type(moved.node(moved.nodes.size() - 2).result),
              moved.type(moved.findValue("dy")))
        << "the mask runs on the pooled side";
    Tensor y(DType::F32, {2, 2, 5, 7}),
        d(DType::F32, tiling ? std::vector<int64_t>{2, 2, 2, 3} : std::vector<int64_t>{2, 2, 3, 5});
    const float nan = std::numeric_limits<float>::quiet_NaN(),
                inf = std::numeric_limits<float>::infinity();
    const float values[] = {1, -1, 0, -0.0f, 2, nan, 2, -inf, inf, 0.5f, -0.0f, nan, 1, 1};
    for (int64_t i = 0; i < y.numel(); ++i)
      y.f32()[i] = values[(i * 7 + i / 5) % 14];
    for (int64_t i = 0; i < d.numel(); ++i)
      d.f32()[i] = i % 3 == 0 ? -0.0f : 0.25f * static_cast<float>(i % 11) - 1;
    Interpreter before(*g), after(moved);
    ASSERT_TRUE(before.run({y, d}).ok());
    ASSERT_TRUE(after.run({y, d}).ok());
    const Tensor &want = before.value(g->outputs[1].value),
                 &got = after.value(moved.outputs[1].value);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), static_cast<size_t>(want.bytes())), 0);
    auto jitBefore = jitCompile(*g, nullptr, {}), jitAfter = jitCompile(moved, nullptr, {});
    ASSERT_TRUE(jitBefore.ok() && jitAfter.ok());
    std::vector<Tensor> a = jittest::expectSame(*g, (*jitBefore)->functions(), {}, {y, d}, text);
    std::vector<Tensor> b = jittest::expectSame(moved, (*jitAfter)->functions(), {}, {y, d}, text);
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(std::memcmp(a[1].data(), b[1].data(), static_cast<size_t>(a[1].bytes())), 0);
    EXPECT_EQ(std::memcmp(a[1].data(), want.data(), static_cast<size_t>(want.bytes())), 0)
        << "the JIT and the interpreter agree bit for bit";
  }
  // The forward pool after the gradient: nothing moves, and the graph stays valid.
  const std::string late = "model m {\n input y: f32[1, 1, 4, 4]\n input dy: f32[1, 1, 2, 2]\n"
                           " g = maxpool2d_grad(y, dy, kernel=2)\n r = relu_grad(y, g)\n"
                           " p = maxpool2d(y, kernel=2)\n output r, p\n}\n";
  Result<Graph> g = parseModel(late, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Graph kept = runPasses(*g, {"fuse-pool-relu"});
  EXPECT_EQ(kept.node(1).op, OpKind::ReluGrad);
  EXPECT_EQ(kept.type(kept.node(1).result), kept.type(kept.findValue("y")));
}

/// fuse-conv: in the CNN's training step both convolutions take their relu
/// (the relu gradients read the relu's output, not the convolution's); the
/// ResNet's convolutions feed batch norm and stay plain.
TEST(Fusion, CnnConvolutionsTakeTheirRelu) {
  Graph cnn = runPasses(loadExample("fashion_cnn.ir"), trainPipeline());
  std::map<std::string, int> c = opCounts(cnn);
  EXPECT_EQ(c["fused_conv2d"], 2);
  EXPECT_EQ(c["conv2d"] + c["relu"], 0);
  for (const Node &n : cnn.nodes) {
    if (n.op == OpKind::FusedConv2d) {
      EXPECT_EQ(attr::activation(n), "relu");
    }
  }
  Graph resnet = runPasses(loadExample("resnet_bn.ir"), trainPipeline());
  EXPECT_EQ(opCounts(resnet)["fused_conv2d"], 0);
  // gelu's gradient reads the convolution's result: not fused in training,
  // fused in inference.
  const std::string text = "model m {\n input x: f32[2, 1, 5, 5]\n input t: f32[2, 2, 5, 5]\n"
                           " param w: f32[2, 1, 3, 3] = he_normal(seed=1)\n"
                           " y = gelu(conv2d(x, w, padding=1))\n loss = mse(y, t)\n"
                           " output y\n minimize loss with sgd(lr=0.1)\n}\n";
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  EXPECT_EQ(opCounts(runPasses(*g, trainPipeline()))["fused_conv2d"], 0);
  EXPECT_EQ(opCounts(runPasses(*g, inferPipeline()))["fused_conv2d"], 1);
}

// The whole default pipeline: the optimizer's updates become one loop each.
TEST(Fusion, MlpElementwiseChainsInTheDefaultPipeline) {
  Graph model = loadExample("mlp.ir");
  Graph fused = runPasses(model, trainPipeline());
  std::map<std::string, int> c = opCounts(fused);
  // p - sgd.lr * grad.p for six params, and the pixels' (x - mean) / std.
  EXPECT_EQ(c["fused_elementwise"], 7);
  EXPECT_EQ(c["mul"] + c["sub"] + c["div"], 0);
  EXPECT_EQ(fused.nodes.size(), 21u);
}

TEST(Fusion, ResNetElementwiseChainsInTheDefaultPipeline) {
  Graph model = loadExample("resnet_s.ir");
  Graph before = runPasses(model, {"autodiff", "fuse-matmul", "fuse-add-layernorm", "simplify"});
  Graph fused = runPasses(model, trainPipeline());
  std::map<std::string, int> c = opCounts(fused);
  EXPECT_GE(c["fused_elementwise"], 30);
  EXPECT_LT(fused.nodes.size(), before.nodes.size() * 2 / 3);
}

// Row reductions ride along (passes/schedule/RowSums.h): the layernorm
// backward is one pass giving the residual, gamma and beta gradients, and
// each bias gradient is summed while its weight gradient's GEMM packs dy.
TEST(Fusion, ResNetRowReductionsRideAlong) {
  Graph step = runPasses(loadExample("resnet_s.ir"), trainPipeline());
  KernelSchedule s = scheduleKernels(step);
  int gammas = 0, betas = 0, biases = 0;
  for (size_t i = 0; i < step.nodes.size(); ++i) {
    const Node &n = step.nodes[i];
    const std::string &name = step.value(n.result).name;
    NodeId host = s.hostOf[i];
    OpKind hostOp = host == kNoNode ? n.op : step.node(host).op;
    if (n.op == OpKind::FusedAddLayerNormGammaGrad) {
      EXPECT_EQ(hostOp, OpKind::FusedAddLayerNormGrad) << name;
      ++gammas;
    } else if (name.size() > 5 && name.compare(name.size() - 5, 5, "_beta") == 0) {
      EXPECT_EQ(hostOp, OpKind::FusedAddLayerNormGrad) << name;
      ++betas;
    } else if (n.op == OpKind::FusedMatMulGradBias) {
      EXPECT_EQ(hostOp, OpKind::FusedMatMulGradWeight) << name;
      ++biases;
    }
  }
  EXPECT_EQ(gammas, 3);
  EXPECT_EQ(betas, 3);
  EXPECT_EQ(biases, 6);
  EXPECT_EQ(s.kernels(), step.nodes.size() - 14);
}

// GEMM epilogues (passes/schedule/GemmEpilogues.h): sgd's update of each
// weight runs on the tiles of the GEMM that computes its gradient.
TEST(Fusion, MlpWeightUpdatesRunInTheirGradientGemm) {
  Graph step = runPasses(loadExample("mlp.ir"), trainPipeline());
  KernelSchedule s = scheduleKernels(step);
  for (const char *weight : {"w1", "w2", "w3"}) {
    ValueId w = step.findValue(weight);
    auto update = std::find_if(step.updates.begin(), step.updates.end(),
                               [&](const Update &u) { return u.target == w; });
    ASSERT_NE(update, step.updates.end()) << weight;
    NodeId guest = step.value(update->value).def;
    ASSERT_TRUE(s.isGuest(guest)) << weight;
    const Node &host = step.node(s.hostOf[static_cast<size_t>(guest)]);
    EXPECT_EQ(step.value(host.result).name, std::string("grad.") + weight);
    EXPECT_EQ(step.node(guest).op, OpKind::FusedElementwise);
  }
  EXPECT_EQ(s.kernels(), step.nodes.size() - 6); // and three bias sums
}

// Every batch norm of resnet_bn's training step: the running statistics are
// computed by batchnorm_train's kernel, gamma's and beta's gradients by
// batchnorm_grad's (passes/schedule/BatchNormGuests.h); the JIT's step with
// them agrees with the interpreter's (JitTraining).
TEST(Fusion, BatchNormStatisticsShareTheirPass) {
  Graph step = runPasses(loadExample("resnet_bn.ir"), trainPipeline());
  KernelSchedule s = scheduleKernels(step);
  int running = 0, gammas = 0, betas = 0;
  for (size_t i = 0; i < step.nodes.size(); ++i) {
    const Node &n = step.nodes[i];
    const std::string &name = step.value(n.result).name;
    NodeId host = s.hostOf[i];
    OpKind hostOp = host == kNoNode ? n.op : step.node(host).op;
    if (n.op == OpKind::BatchNormRunningMean || n.op == OpKind::BatchNormRunningVar) {
      EXPECT_EQ(hostOp, OpKind::BatchNormTrain) << name;
      ++running;
    } else if (n.op == OpKind::BatchNormGammaGrad) {
      EXPECT_EQ(hostOp, OpKind::BatchNormGrad) << name;
      ++gammas;
    } else if (n.op == OpKind::Sum && name.rfind("grad.", 0) == 0 && name != "grad.b_out") {
      EXPECT_EQ(hostOp, OpKind::BatchNormGrad) << name;
      ++betas;
    }
  }
  EXPECT_EQ(running, 18); // 9 batch norms
  EXPECT_EQ(gammas, 9);
  EXPECT_EQ(betas, 7); // the shortcuts' betas are the sums of their block's (CSE)
}

/// The element-wise guests of `text`'s training step, by result name.
std::vector<std::string> epilogueGuests(const std::string &text) {
  Result<Graph> model = parseModel(text, "model.ir");
  EXPECT_TRUE(model.ok()) << model.errorText();
  Graph step = runPasses(*model, trainPipeline());
  KernelSchedule s = scheduleKernels(step);
  std::vector<std::string> names;
  for (size_t i = 0; i < step.nodes.size(); ++i)
    if (s.isGuest(static_cast<NodeId>(i)) && step.nodes[i].op == OpKind::FusedElementwise)
      names.push_back(step.value(step.nodes[i].result).name);
  return names;
}

TEST(Fusion, EpiloguesNeedTheGemmResultToThemselvesAndOperandsReadyBeforeIt) {
  const char *layer = "model m {\n  dim B\n  input x: f32[B, 8]\n  input t: f32[B, 4]\n"
                      "  param w: f32[8, 4] = uniform(-1, 1, seed=1)\n"
                      "  y = matmul(x, w)\n  loss = mse(y, t)\n  output y\n"
                      "  minimize loss with ";
  // Momentum: the velocity update reads the gradient and rides along; the
  // weight's update reads the velocity, not a GEMM result.
  EXPECT_EQ(epilogueGuests(std::string(layer) + "sgd(lr=0.1, momentum=0.9)\n}\n").size(), 1u);
  EXPECT_EQ(epilogueGuests(std::string(layer) + "sgd(lr=0.1)\n}\n").size(), 1u);
  // Adam reads the gradient twice (m and v): no epilogue.
  EXPECT_TRUE(epilogueGuests(std::string(layer) + "adam(lr=0.1)\n}\n").empty());
  EXPECT_TRUE(epilogueGuests(jittest::exampleText("resnet_s.ir")).empty());
  // A scalar computed after the GEMM is not there when the GEMM runs.
  auto guests = [](const std::string &body) {
    Result<Graph> g = parseModel("model m {\n  dim B\n  input x: f32[B, 8]\n"
                                 "  param w: f32[8, 4] = ones()\n" +
                                     body + "  output out\n}\n",
                                 "m.ir");
    EXPECT_TRUE(g.ok()) << g.errorText();
    return g.ok() ? g->nodes.size() - scheduleKernels(*g).kernels() : 0;
  };
  EXPECT_EQ(guests("  y = matmul(x, w)\n  s = sum(x)\n"
                   "  out = fused_elementwise(y, s, program=[[mul, 0, 1]])\n"),
            0u);
  EXPECT_EQ(guests("  s = sum(x)\n  y = matmul(x, w)\n"
                   "  out = fused_elementwise(y, s, program=[[mul, 0, 1]])\n"),
            1u);
}

TEST(Fusion, PrintedFusedGraphsAreFixedPoints) {
  for (const char *example : {"mlp.ir", "resnet_s.ir", "xor.ir", "cnn.ir"}) {
    Graph fused = runPasses(loadExample(example), trainPipeline());
    std::string printed = printGraph(fused);
    Result<Graph> again = parseModel(printed, "fused.ir");
    ASSERT_TRUE(again.ok()) << again.errorText() << printed;
    EXPECT_EQ(printGraph(*again), printed);
  }
}

TEST(Fusion, GoldenMlpForward) {
  Graph fused = runPasses(loadExample("mlp.ir"), {"autodiff", "fuse-matmul"});
  std::string printed = printGraph(fused);
  EXPECT_NE(printed.find("  h1: f32[B, 256] = fused_matmul(pixels, w1, b1, activation=relu)\n"
                         "  h2: f32[B, 256] = fused_matmul(h1, w2, b2, activation=relu)\n"
                         "  logits: f32[B, 10] = fused_matmul(h2, w3, b3)\n"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("  grad.w1: f32[784, 256] = fused_matmul_grad_weight(pixels, t3, h1, "
                         "transpose_a=true, activation=relu)\n"),
            std::string::npos)
      << printed;
}

TEST(Fusion, RemarksSayWhyNot) {
  const char *text = "model m {\n"
                     "  dim B\n"
                     "  input x: f32[B, 3]\n"
                     "  param w: f32[3, 2] = ones()\n"
                     "  param b: f32[2] = zeros()\n"
                     "  t = matmul(x, w) + b\n"
                     "  h = relu(t)\n"
                     "  k = sigmoid(matmul(x, w))\n"
                     "  output t, h, k\n"
                     "}\n";
  Result<Graph> g = parseModel(text, "model.ir");
  ASSERT_TRUE(g.ok());
  PassContext ctx;
  Graph fused = runPasses(*g, {"fuse-matmul"}, &ctx);
  std::string remarks = ctx.diags.render();
  EXPECT_NE(remarks.find("model.ir:6:7: remark: matmul fused with add into fused_matmul"),
            std::string::npos)
      << remarks;
  EXPECT_NE(remarks.find("add not fused with relu: its result is an output"), std::string::npos)
      << remarks;
  EXPECT_NE(remarks.find("model.ir:8:15: remark: matmul fused with sigmoid into fused_matmul"),
            std::string::npos)
      << remarks;
  EXPECT_EQ(opCounts(fused)["fused_matmul"], 2);
}

// ---- each fused op, JIT against the interpreter at batch 1, 3 and 64 ---------

std::string model(const std::string &decls, const std::string &call) {
  return "model m {\n  dim B\n" + decls + "  out = " + call + "\n  output out\n}\n";
}

/// `steps` training steps of the JIT, on one and on three threads, against
/// the interpreter on the same fused graph and inputs: the named values of
/// the state after every step.
void expectStepsLikeTheInterpreter(const Graph &model, const Graph &step,
                                   const std::vector<Tensor> &inputs, int steps,
                                   const std::vector<std::string> &names) {
  for (int threads : {1, 3}) {
    SCOPED_TRACE(std::to_string(threads) + " thread(s)");
    CompileOptions options;
    options.threads = threads;
    auto jit = JitSession::create(model, &step, options);
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    Interpreter interp(step);
    for (int s = 0; s < steps; ++s) {
      ASSERT_TRUE(interp.run(inputs).ok());
      interp.applyUpdates();
      ASSERT_TRUE((*jit)->trainStep(inputs).ok());
      for (const std::string &name : names) {
        ASSERT_NE(step.findValue(name), kNoValue) << name;
        jittest::expectClose((*jit)->read(name), interp.value(step.findValue(name)),
                             name + " after step " + std::to_string(s + 1));
      }
    }
  }
}

// Updates run in GEMM epilogues (momentum's velocity and plain sgd, edge
// tiles of 45 and 10 columns, 37 rows): several steps of the JIT against
// the interpreter on the same fused graph, on one and three threads.
TEST(FusionJit, GemmEpilogueUpdatesTrainLikeTheInterpreter) {
  for (const char *optimizer : {"sgd(lr=0.1, momentum=0.9)", "sgd(lr=0.1)"}) {
    SCOPED_TRACE(optimizer);
    std::string text =
        std::string("model m {\n  dim B\n  input x: f32[B, 37]\n  input t: f32[B, 10]\n"
                    "  param w1: f32[37, 45] = uniform(-1, 1, seed=1)\n"
                    "  param w2: f32[45, 10] = uniform(-1, 1, seed=2)\n"
                    "  y = matmul(relu(matmul(x, w1)), w2)\n  loss = mse(y, t)\n  output y\n"
                    "  minimize loss with ") +
        optimizer + "\n}\n";
    Result<Graph> model = parseModel(text, "m.ir");
    ASSERT_TRUE(model.ok()) << model.errorText();
    Graph step = runPasses(*model, trainPipeline());
    ASSERT_GE(scheduleKernels(step).kernels() + 2, step.nodes.size()); // two epilogues at least
    std::vector<std::string> names = {"w1", "w2"};
    if (std::string(optimizer).find("momentum") != std::string::npos)
      names.insert(names.end(), {"w1.velocity", "w2.velocity"});
    expectStepsLikeTheInterpreter(*model, step, jittest::randomInputs(step, {37}, 1), 3, names);
  }
}

/// y = relu(x w1 + b1) w2 + b2 with x: [B, in], w1: [in, hidden],
/// w2: [hidden, out], mse against t, trained with `optimizer`.
std::string twoLayerModel(int in, int hidden, int out, const std::string &optimizer) {
  auto n = [](int v) { return std::to_string(v); };
  return "model m {\n  dim B\n  input x: f32[B, " + n(in) + "]\n  input t: f32[B, " + n(out) +
         "]\n  param w1: f32[" + n(in) + ", " + n(hidden) +
         "] = uniform(-1, 1, seed=1)\n  param b1: f32[" + n(hidden) + "] = zeros()\n" +
         "  param w2: f32[" + n(hidden) + ", " + n(out) + "] = uniform(-1, 1, seed=2)\n" +
         "  param b2: f32[" + n(out) + "] = zeros()\n" +
         "  y = matmul(relu(matmul(x, w1) + b1), w2) + b2\n  loss = mse(y, t)\n  output y\n" +
         "  minimize loss with " + optimizer + "\n}\n";
}

/// twoLayerModel's steps at `batch`, something riding along a GEMM, like
/// the interpreter's (expectStepsLikeTheInterpreter).
void expectTwoLayerStepsLikeTheInterpreter(const std::string &text, int64_t batch, int steps,
                                           const std::vector<std::string> &names) {
  Result<Graph> model = parseModel(text, "m.ir");
  ASSERT_TRUE(model.ok()) << model.errorText();
  Graph step = runPasses(*model, trainPipeline());
  ASSERT_LT(scheduleKernels(step).kernels(), step.nodes.size()); // something rides along
  expectStepsLikeTheInterpreter(*model, step, jittest::randomInputs(step, {batch}, 1), steps,
                                names);
}

// Bias gradients ride along the weight-gradient GEMMs as column sums of B.
// At batch 300 the GEMMs' depth (the batch) takes two blocks, so the sums
// of the second block start from those of the first.
TEST(FusionJit, BiasGradientsOverSeveralDepthBlocksTrainLikeTheInterpreter) {
  expectTwoLayerStepsLikeTheInterpreter(twoLayerModel(37, 45, 10, "sgd(lr=0.1)"), 300, 2,
                                        {"w1", "b1", "w2", "b2"});
}

// An element-wise node reading a GEMM's result only runs in the GEMM's
// epilogue, here an output (written into the caller's buffer): immediates,
// a scalar param and a same-shape input as its other operands; every
// transpose; edge tiles in both directions.
TEST(FusionJit, GemmEpiloguesOfInferenceOutputs) {
  const std::string decls =
      "  input x: f32[B, 37]\n  input xt: f32[37, B]\n  input c: f32[B, 45]\n"
      "  param w: f32[37, 45] = uniform(-1, 1, seed=1)\n"
      "  param wt: f32[45, 37] = uniform(-1, 1, seed=2)\n  param s: f32[] = fill(1.5)\n";
  for (const char *gemm :
       {"matmul(x, w)", "matmul(xt, w, transpose_a=true)", "matmul(x, wt, transpose_b=true)",
        "fused_matmul(x, w, activation=relu)"}) {
    SCOPED_TRACE(gemm);
    std::string g = gemm;
    std::string scaled = "fused_elementwise(" + g + ", 2, 1, program=[[mul, 0, 1], [add, 3, 2]])";
    std::string shifted =
        "fused_elementwise(" + g + ", c, s, program=[[sub, 0, 1], [div, 3, 2], [neg, 4]])";
    for (const std::string &call : {scaled, shifted}) {
      std::string text = model(decls, call);
      Result<Graph> parsed = parseModel(text, "m.ir");
      ASSERT_TRUE(parsed.ok()) << parsed.errorText();
      EXPECT_EQ(scheduleKernels(*parsed).kernels(), 1u) << text; // the GEMM and its guest
      jittest::expectJitMatchesInterpreter(text, {1, 9, 64});
    }
  }
}

TEST(FusionJit, FusedMatMul) {
  const std::string decls =
      "  input x: f32[B, 37]\n  param w: f32[37, 45] = uniform(-1, 1, seed=1)\n"
      "  param wt: f32[45, 37] = uniform(-1, 1, seed=2)\n"
      "  param bias: f32[45] = uniform(-1, 1, seed=3)\n";
  for (const char *act : {"none", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"}) {
    SCOPED_TRACE(act);
    std::string a = std::string(", activation=") + act;
    jittest::expectJitMatchesInterpreter(model(decls, "fused_matmul(x, w, bias" + a + ")"));
    jittest::expectJitMatchesInterpreter(model(decls, "fused_matmul(x, w" + a + ")"));
    jittest::expectJitMatchesInterpreter(
        model(decls, "fused_matmul(x, wt, bias, transpose_b=true, alpha=0.2" + a + ")"));
  }
  jittest::expectJitMatchesInterpreter(
      model("  input x: f32[37, B]\n  param w: f32[37, 45] = uniform(-1, 1, seed=1)\n"
            "  param bias: f32[45] = uniform(-1, 1, seed=3)\n",
            "fused_matmul(x, w, bias, transpose_a=true, activation=relu)"));
}

TEST(FusionJit, FusedMatMulGradients) {
  const std::string decls = "  input dy: f32[B, 45]\n  input z: f32[B, 45]\n  input x: f32[B, 37]\n"
                            "  input xt: f32[37, B]\n"
                            "  param w: f32[37, 45] = uniform(-1, 1, seed=1)\n"
                            "  param wt: f32[45, 37] = uniform(-1, 1, seed=2)\n";
  for (const char *act : {"none", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"}) {
    SCOPED_TRACE(act);
    std::string a = std::string(", activation=") + act;
    jittest::expectJitMatchesInterpreter(
        model(decls, "fused_matmul_grad_input(dy, z, w, transpose_b=true" + a + ")"));
    jittest::expectJitMatchesInterpreter(
        model(decls, "fused_matmul_grad_input(dy, z, wt" + a + ")"));
    jittest::expectJitMatchesInterpreter(
        model(decls, "fused_matmul_grad_weight(x, dy, z, transpose_a=true" + a + ")"));
    jittest::expectJitMatchesInterpreter(
        model(decls, "fused_matmul_grad_weight(xt, dy, z" + a + ")"));
    jittest::expectJitMatchesInterpreter(model(decls, "fused_matmul_grad_bias(dy, z" + a + ")"));
  }
}

// GEMMs under 2^15 multiply-adds are one loop nest (codegen/lower/
// GemmSmall.cpp), not the blocked GEMM: every fused variant and transpose
// at 6 x 5 (edge vectors only), and a training step whose bias gradients
// ride along as column sums.
TEST(FusionJit, SmallGemmsInEveryVariant) {
  const std::string decls = "  input dy: f32[B, 5]\n  input z: f32[B, 5]\n  input x: f32[B, 6]\n"
                            "  input xt: f32[6, B]\n"
                            "  param w: f32[6, 5] = uniform(-1, 1, seed=1)\n"
                            "  param wt: f32[5, 6] = uniform(-1, 1, seed=2)\n"
                            "  param bias: f32[5] = uniform(-1, 1, seed=3)\n";
  for (const char *act : {"none", "relu", "sigmoid", "tanh"}) {
    SCOPED_TRACE(act);
    std::string a = std::string(", activation=") + act;
    for (const std::string &call :
         {"fused_matmul(x, w, bias" + a + ")", "fused_matmul(x, wt, transpose_b=true" + a + ")",
          "fused_matmul(xt, w, bias, transpose_a=true" + a + ")",
          "fused_matmul_grad_input(dy, z, w, transpose_b=true" + a + ")",
          "fused_matmul_grad_input(dy, z, wt" + a + ")",
          "fused_matmul_grad_weight(x, dy, z, transpose_a=true" + a + ")",
          "fused_matmul_grad_weight(xt, dy, z" + a + ")"})
      jittest::expectJitMatchesInterpreter(model(decls, call));
  }
  expectTwoLayerStepsLikeTheInterpreter(twoLayerModel(6, 5, 3, "sgd(lr=0.1, momentum=0.9)"), 37, 3,
                                        {"w1", "b1", "w2", "b2", "w1.velocity", "b1.velocity"});
}

// K = 601: depth blocks of 201, 201 and 199 (no multiple of any vector
// width), so A's mapped rows, packed once per row of tiles, start at depth
// 0, 201 and 402 and end in a partial vector; N = 70 leaves an edge panel.
// W stored [N, K] is packed through its transpose; stored [K, N] it is read
// in place on AVX-512. The host's tiles, then AVX2's and SSE2's (when the
// host runs them).
TEST(FusionJit, FusedMatMulGradInputOverSeveralDepthBlocks) {
  const std::string decls = "  input dy: f32[B, 601]\n  input z: f32[B, 601]\n"
                            "  param w: f32[70, 601] = uniform(-1, 1, seed=1)\n"
                            "  param wt: f32[601, 70] = uniform(-1, 1, seed=2)\n";
  for (const std::string &cpu : jittest::runnableCpus())
    for (const char *act : {"relu", "tanh"}) {
      SCOPED_TRACE(std::string(act) + " on " + (cpu.empty() ? "the host" : cpu));
      CompileOptions options;
      options.cpu = cpu;
      std::string a = std::string(", activation=") + act + ")";
      jittest::expectJitMatchesInterpreter(
          model(decls, "fused_matmul_grad_input(dy, z, w, transpose_b=true" + a), {1, 3, 64}, 1,
          nullptr, options);
      jittest::expectJitMatchesInterpreter(model(decls, "fused_matmul_grad_input(dy, z, wt" + a),
                                           {1, 3, 64}, 1, nullptr, options);
    }
}

TEST(FusionJit, FusedAddLayerNorm) {
  const std::string decls = "  input x: f32[B, 33]\n  input r: f32[B, 33]\n  input dy: f32[B, 33]\n"
                            "  param g: f32[33] = uniform(0.5, 1.5, seed=1)\n"
                            "  param be: f32[33] = uniform(-1, 1, seed=2)\n";
  jittest::expectJitMatchesInterpreter(model(decls, "fused_add_layernorm(x, r, g, be)"));
  jittest::expectJitMatchesInterpreter(
      model(decls, "fused_add_layernorm_grad(x, r, g, dy, eps=0.001)"));
  jittest::expectJitMatchesInterpreter(model(decls, "fused_add_layernorm_gamma_grad(x, r, dy)"));
}

} // namespace
} // namespace nnc
