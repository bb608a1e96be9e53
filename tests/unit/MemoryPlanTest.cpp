/// Memory planning: on random graphs no two values live at the same time
/// share bytes (except an element-wise result over an operand that dies at
/// its node), compiled planned graphs match the interpreter, and the plan
/// needs less than the sum of all tensors for the MLP and ResNet-S steps.
#include "codegen/Session.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/schedule/KernelSchedule.h"
#include "passes/schedule/MemoryPlan.h"
#include "passes/schedule/MemoryReport.h"
#include "tests/unit/InterpTestUtil.h"
#include "tests/unit/JitTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace nnc {
namespace {

using test::ModelBuilder;

// ---- random graphs ---------------------------------------------------------------

/// A random DAG over two symbolic dims (B, N) and static widths 16 and 8:
/// element-wise ops (some broadcasting, some with immediates), matmuls,
/// transposes, reductions and softmax, with a few outputs.
Graph randomGraph(uint32_t seed, int nodes) {
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  ModelBuilder m;
  Dim B = Dim::sym(m.dim("B")), N = Dim::sym(m.dim("N"));
  std::vector<ValueId> pool = {m.input("x", {B, Dim::fixed(16)}), m.input("y", {N, Dim::fixed(8)}),
                               m.input("z", {B, Dim::fixed(8)}), m.input("s", {B, N})};
  std::map<int64_t, std::map<int64_t, ValueId>> weights; // [K][M]
  auto weight = [&](int64_t k, int64_t mm) {
    auto [it, fresh] = weights[k].try_emplace(mm, kNoValue);
    ValueId &w = it->second;
    if (fresh) {
      std::vector<double> data(static_cast<size_t>(k * mm));
      for (size_t i = 0; i < data.size(); ++i)
        data[i] = 0.3 * std::sin(double(i) * 0.7 + double(k + mm));
      w = m.constant("w" + std::to_string(k) + "x" + std::to_string(mm), test::staticShape({k, mm}),
                     data);
    }
    return w;
  };
  ModelBuilder *mb = &m;
  auto shapeOf = [&](ValueId v) { return mb->builder().graph().type(v).shape; };
  const OpKind unary[] = {OpKind::Relu, OpKind::Tanh, OpKind::Sigmoid, OpKind::Neg, OpKind::Abs};
  const OpKind binary[] = {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Maximum};
  std::vector<ValueId> results;
  for (int i = 0; i < nodes; ++i) {
    // Prefer recent values, so chains form and values die.
    size_t back = std::min(pool.size(), size_t{6});
    ValueId v = pick(3) ? pool[pool.size() - 1 - pick(back)] : pool[pick(pool.size())];
    Shape s = shapeOf(v);
    ValueId r = kNoValue;
    switch (pick(8)) {
    case 0:
    case 1:
      r = m.op(unary[pick(5)], {v});
      break;
    case 2:
    case 3: { // same shape, a broadcast row, a keepdims column, or a number
      std::vector<ValueId> same;
      for (ValueId w : pool)
        if (shapeOf(w) == s)
          same.push_back(w);
      ValueId other = same[pick(same.size())];
      size_t how = pick(4);
      if (how == 1 && s.size() == 2 && s[1].isStatic())
        other = m.op(OpKind::Mean, {other}, {test::ints("axes", {0})});
      else if (how == 2 && s.size() == 2)
        other =
            m.op(OpKind::Sum, {other}, {test::ints("axes", {-1}), test::flag("keepdims", true)});
      else if (how == 3)
        other = m.immediate(0.5);
      if (pick(2))
        r = m.op(binary[pick(4)], {v, other});
      else
        r = m.op(binary[pick(4)], {other, v});
      break;
    }
    case 4:
      if (s.size() == 2 && s[1].isStatic() && s[1].size > 1)
        r = m.op(OpKind::MatMul, {v, weight(s[1].size, pick(2) ? 16 : 8)});
      break;
    case 5:
      if (s.size() == 2)
        r = m.op(OpKind::Transpose, {v});
      break;
    case 6:
      if (s.size() == 2) { // transpose(v) x w over the same rows
        for (ValueId w : pool)
          if (shapeOf(w).size() == 2 && shapeOf(w)[0] == s[0] && w != v && pick(2)) {
            r = m.op(OpKind::MatMul, {v, w}, {test::flag("transpose_a", true)});
            break;
          }
      }
      break;
    default:
      r = m.op(s.size() == 2 && pick(2) ? OpKind::Softmax : OpKind::Tanh, {v});
      break;
    }
    if (r == kNoValue)
      continue;
    pool.push_back(r);
    results.push_back(r);
  }
  std::set<ValueId> outputs;
  for (int k = 0; k < 2 && !results.empty(); ++k)
    outputs.insert(results[pick(results.size())]);
  if (!results.empty())
    outputs.insert(results.back());
  for (ValueId v : outputs)
    m.output(v);
  return m.finish();
}

/// Lifetimes computed here, independently of the planner: [def, last use],
/// to the end for outputs and update values.
std::vector<Lifetime> lifetimesOf(const Graph &g) {
  std::vector<Lifetime> life(g.values.size());
  auto end = static_cast<int32_t>(g.nodes.size());
  for (int32_t i = 0; i < end; ++i) {
    const Node &n = g.node(i);
    life[static_cast<size_t>(n.result)] = {i, i};
    for (ValueId v : n.operands)
      if (g.value(v).kind == ValueKind::Op)
        life[static_cast<size_t>(v)].last = i;
  }
  for (const OutputRef &o : g.outputs)
    if (g.value(o.value).kind == ValueKind::Op)
      life[static_cast<size_t>(o.value)].last = end;
  for (const Update &u : g.updates)
    if (g.value(u.value).kind == ValueKind::Op)
      life[static_cast<size_t>(u.value)].last = end;
  if (g.minimize && g.value(g.minimize->loss).kind == ValueKind::Op)
    life[static_cast<size_t>(g.minimize->loss)].last = end;
  // A guest (a row sum, a GEMM epilogue) is written when its host runs; the
  // GEMM's result, read by its epilogue only, is not read after the GEMM.
  KernelSchedule guests = scheduleKernels(g);
  for (int32_t i = 0; i < end; ++i)
    if (guests.isGuest(i)) {
      NodeId host = guests.hostOf[static_cast<size_t>(i)];
      int32_t &first = life[static_cast<size_t>(g.node(i).result)].first;
      first = std::min(first, host);
      if (g.node(i).op == OpKind::FusedElementwise)
        life[static_cast<size_t>(g.node(host).result)].last = host;
    }
  return life;
}

/// Whether `b` may overwrite `a` in place: b's node is a plain element-wise
/// op reading `a`, `a` dies there, and both have one shape.
bool legalInPlace(const Graph &g, const std::vector<Lifetime> &life, ValueId a, ValueId b) {
  const Node &n = g.node(g.value(b).def);
  const OpInfo &info = n.info();
  bool elementwise = info.family == OpFamily::Elementwise &&
                     (info.has(kUnary) || info.has(kBinary) || info.has(kGradientOp)) &&
                     !std::string_view(info.name).starts_with("fused_");
  bool reshape = n.op == OpKind::Reshape; // its operand's bytes, whatever the shape
  bool reads = std::find(n.operands.begin(), n.operands.end(), a) != n.operands.end();
  return (elementwise || reshape) && reads && life[static_cast<size_t>(a)].last == g.value(b).def &&
         (reshape || g.type(a).shape == g.type(b).shape);
}

/// Checks the plan of `g` for concrete `dims`: every value fits its buffer,
/// buffers do not overlap, and values live together never share bytes.
void expectNoLiveOverlap(const Graph &g, const MemoryPlan &plan, const std::vector<int64_t> &dims,
                         const std::string &what) {
  std::vector<Lifetime> life = lifetimesOf(g);
  std::vector<uint64_t> offsets = plan.offsets(dims);
  struct Range {
    ValueId v;
    uint64_t begin, end;
  };
  std::vector<Range> ranges;
  for (const Node &n : g.nodes) {
    if (plan.stateOf[static_cast<size_t>(n.result)] != kNoValue)
      continue; // computed straight into its param or state
    int32_t buffer = plan.bufferOf[static_cast<size_t>(n.result)];
    ASSERT_GE(buffer, 0) << what;
    uint64_t bytes = SymbolicSize::of(g.type(n.result)).evaluate(dims);
    uint64_t capacity = plan.buffers[static_cast<size_t>(buffer)].size.evaluate(dims);
    EXPECT_LE(bytes, capacity) << what;
    uint64_t begin = offsets[static_cast<size_t>(buffer)];
    EXPECT_EQ(begin % 64, 0u) << what;
    EXPECT_LE(begin + bytes, plan.workspaceBytes(dims)) << what;
    ranges.push_back({n.result, begin, begin + bytes});
    EXPECT_EQ(plan.lifetimes[static_cast<size_t>(n.result)].first,
              life[static_cast<size_t>(n.result)].first);
    EXPECT_EQ(plan.lifetimes[static_cast<size_t>(n.result)].last,
              life[static_cast<size_t>(n.result)].last);
  }
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = i + 1; j < ranges.size(); ++j) {
      const Range &a = ranges[i], &b = ranges[j]; // a is defined first
      bool sharesBytes = a.begin < b.end && b.begin < a.end;
      if (!sharesBytes || !life[static_cast<size_t>(a.v)].overlaps(life[static_cast<size_t>(b.v)]))
        continue;
      EXPECT_TRUE(legalInPlace(g, life, a.v, b.v) && a.begin == b.begin)
          << what << ": values " << a.v << " and " << b.v << " are live together and share bytes";
    }
}

const std::vector<std::vector<int64_t>> kDimChoices = {{1, 1}, {2, 7}, {5, 3}, {64, 64}, {100, 9}};

TEST(MemoryPlan, RandomGraphsNeverShareBytesBetweenLiveValues) {
  int inPlace = 0, reused = 0;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    Graph g = randomGraph(seed, 10 + static_cast<int>(seed % 30));
    MemoryPlan plan = planMemory(g, scheduleKernels(g));
    for (ValueId v : plan.inPlaceOf)
      inPlace += v != kNoValue;
    reused += static_cast<int>(g.nodes.size() - plan.buffers.size());
    for (const std::vector<int64_t> &dims : kDimChoices) {
      expectNoLiveOverlap(g, plan, dims, "seed " + std::to_string(seed));
      EXPECT_LE(plan.workspaceBytes(dims), unplannedBytes(g, dims));
      EXPECT_LE(peakLiveBytes(g, plan, dims), plan.workspaceBytes(dims));
    }
    if (::testing::Test::HasFailure())
      return;
  }
  // The graphs do exercise reuse and in-place ops.
  EXPECT_GT(inPlace, 50);
  EXPECT_GT(reused, 300);
}

TEST(MemoryPlan, SizesAreSymbolic) {
  ModelBuilder m;
  Dim B = Dim::sym(m.dim("B"));
  ValueId x = m.input("x", {B, Dim::fixed(256)});
  m.output(m.op(OpKind::Relu, {x}));
  Graph g = m.finish();
  SymbolicSize s = SymbolicSize::of(g.type(x));
  EXPECT_EQ(s.toString(g.dimNames()), "1024*B");
  EXPECT_EQ(s.evaluate({64}), 65536u);
  EXPECT_EQ(roundUp64(SymbolicSize::of(Type{DType::F32, {}}).evaluate({})), 64u);
}

TEST(MemoryPlan, ElementwiseChainsRunInPlaceButMatmulDoesNot) {
  ModelBuilder m;
  Dim B = Dim::sym(m.dim("B"));
  ValueId x = m.input("x", {B, Dim::fixed(4)});
  ValueId w = m.constant("w", test::staticShape({4, 4}), std::vector<double>(16, 0.5));
  ValueId b = m.constant("b", test::staticShape({4}), {1, 2, 3, 4});
  ValueId t0 = m.op(OpKind::Relu, {x});       // x is an input: not in the workspace
  ValueId t1 = m.op(OpKind::Tanh, {t0});      // over t0
  ValueId t2 = m.op(OpKind::Add, {b, t1});    // over t1 (b broadcasts, t1 does not)
  ValueId t3 = m.op(OpKind::MatMul, {t2, w}); // never over its operand
  ValueId t4 = m.op(OpKind::Softmax, {t3});   // a reduction: never in place
  ValueId t5 = m.op(OpKind::Mul, {t4, t4});   // over t4
  m.output(t5);
  Graph g = m.finish();
  MemoryPlan plan = planMemory(g, scheduleKernels(g));
  auto inPlaceOf = [&](ValueId v) { return plan.inPlaceOf[static_cast<size_t>(v)]; };
  EXPECT_EQ(inPlaceOf(t0), kNoValue);
  EXPECT_EQ(inPlaceOf(t1), t0);
  EXPECT_EQ(inPlaceOf(t2), t1);
  EXPECT_EQ(inPlaceOf(t3), kNoValue);
  EXPECT_EQ(inPlaceOf(t4), kNoValue);
  EXPECT_EQ(inPlaceOf(t5), t4);
  auto buffer = [&](ValueId v) { return plan.bufferOf[static_cast<size_t>(v)]; };
  EXPECT_EQ(buffer(t0), buffer(t2));
  EXPECT_NE(buffer(t2), buffer(t3));
  EXPECT_NE(buffer(t3), buffer(t4));
  EXPECT_EQ(buffer(t2), buffer(t4)); // t2 is dead once t3 is computed
  EXPECT_EQ(plan.buffers.size(), 2u);
}

/// A reshape whose operand dies at it takes the operand's buffer (and the
/// code copies nothing); one whose operand lives on gets its own, and both
/// compute what the interpreter does.
TEST(MemoryPlan, ReshapeTakesOverTheBufferOfAnOperandThatDies) {
  std::string text = "model m {\n dim B\n input x: f32[B, 8]\n"
                     " a = relu(x)\n r = reshape(a, shape=[B, 2, 4])\n"
                     " k = tanh(x)\n s = reshape(k, shape=[B, 4, 2])\n"
                     " y = r * 2\n z = s + 1\n output y, z, k\n}\n";
  Graph g = jittest::parsedOrFail(text);
  MemoryPlan plan = planMemory(g, scheduleKernels(g));
  auto named = [&](const char *name) {
    for (const Node &n : g.nodes)
      if (g.value(n.result).name == name)
        return n.result;
    return kNoValue;
  };
  auto inPlaceOf = [&](const char *name) {
    return plan.inPlaceOf[static_cast<size_t>(named(name))];
  };
  EXPECT_EQ(inPlaceOf("r"), named("a"));
  EXPECT_EQ(inPlaceOf("s"), kNoValue); // k is an output: it lives on
  jittest::expectJitMatchesInterpreter(text, {1, 5});
}

TEST(MemoryPlan, RandomGraphsCompiledWithThePlanMatchTheInterpreter) {
  for (uint32_t seed : {3u, 11u, 29u, 42u}) {
    Graph g = randomGraph(seed, 30);
    auto jit = jitCompile(g, nullptr, {});
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    for (const std::vector<int64_t> &dims :
         {std::vector<int64_t>{3, 5}, std::vector<int64_t>{17, 2}})
      jittest::expectSame(g, (*jit)->functions(), dims, jittest::randomInputs(g, dims),
                          "random graph " + std::to_string(seed));
    if (::testing::Test::HasFailure())
      return;
  }
}

// ---- the example models -------------------------------------------------------

std::vector<std::filesystem::path> exampleFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_SOURCE_DIR "/examples"))
    if (entry.path().extension() == ".ir")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// examples/NAME; the language model trains with SGD here: Adam's first
/// step moves a param by lr g / (|g| + eps), which turns the rounding noise
/// of gradients that are 0 in exact arithmetic (its key biases: softmax
/// ignores a constant added to a row) into steps of up to lr.
Graph loadExample(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream stream;
  stream << in.rdbuf();
  std::string text = stream.str();
  if (path.filename() == "transformer_lm.ir")
    text.replace(text.find("adam(lr=0.002)"), 14, "sgd(lr=0.1)");
  Result<Graph> g = parseModel(text, path.filename().string());
  EXPECT_TRUE(g.ok()) << g.errorText();
  return g.ok() ? std::move(g).value() : Graph{};
}

std::unique_ptr<Graph> trainingStep(const Graph &model) {
  if (!model.minimize)
    return nullptr;
  auto step = std::make_unique<Graph>(model);
  PassContext ctx;
  Status s = runPipeline(*step, {"training-mode", "autodiff"}, ctx);
  EXPECT_TRUE(s.ok()) << s.errorText();
  return step;
}

TEST(MemoryPlan, ExamplePlansNeverShareBytesBetweenLiveValues) {
  for (const auto &path : exampleFiles()) {
    Graph model = loadExample(path);
    std::unique_ptr<Graph> step = trainingStep(model);
    for (int64_t batch : {1, 3, 64}) {
      expectNoLiveOverlap(model, planMemory(model, scheduleKernels(model)), {batch},
                          path.filename().string());
      if (step)
        expectNoLiveOverlap(*step, planMemory(*step, scheduleKernels(*step)), {batch},
                            path.filename().string() + " step");
    }
  }
}

TEST(MemoryPlan, EveryExampleCompiledWithThePlanMatchesTheInterpreter) {
  for (const auto &path : exampleFiles()) {
    SCOPED_TRACE(path.filename().string());
    Graph model = loadExample(path);
    std::unique_ptr<Graph> step = trainingStep(model);
    auto jit = JitSession::create(model, step.get());
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    std::vector<int64_t> dims(model.dims.size(), 3);
    // Pixels in [0, 1]: with Adam, a gradient within rounding of zero
    // makes the first step's sign (and so the state) differ by up to lr.
    std::vector<Tensor> inputs =
        jittest::randomInputs(model, dims, 2, [](const std::string &, Tensor &t) {
          if (t.dtype() == DType::F32)
            for (int64_t i = 0; i < t.numel(); ++i)
              t.f32()[i] = (t.f32()[i] + 2) / 4;
        });
    // Inference.
    Interpreter interp(model);
    ASSERT_TRUE(interp.run(inputs).ok());
    auto outs = (*jit)->infer(inputs);
    ASSERT_TRUE(outs.ok()) << outs.errorText();
    for (size_t k = 0; k < outs->size(); ++k)
      jittest::expectClose((*outs)[k], interp.value(model.outputs[k].value),
                           "output " + std::to_string(k));
    if (!step)
      continue;
    // One training step: the loss, then every param and state.
    Interpreter trainer(*step);
    ASSERT_TRUE(trainer.run(inputs).ok());
    float want = static_cast<float>(trainer.value(step->outputs.back().value).at(0));
    trainer.applyUpdates();
    auto loss = (*jit)->trainStep(inputs);
    ASSERT_TRUE(loss.ok()) << loss.errorText();
    EXPECT_NEAR(*loss, want, 1e-5 * std::max(1.0f, std::fabs(want)));
    for (const std::string &name : (*jit)->stateNames())
      jittest::expectClose((*jit)->read(name), trainer.value(step->findValue(name)), name);
    // The workspace the compiled code asks for is the larger plan.
    for (int64_t batch : {1, 64}) {
      std::vector<int64_t> at(model.dims.size(), batch);
      uint64_t planned = std::max(planMemory(model, scheduleKernels(model)).workspaceBytes(at),
                                  planMemory(*step, scheduleKernels(*step)).workspaceBytes(at));
      EXPECT_EQ((*jit)->model().functions().workspaceSize(at.data()), planned);
    }
  }
}

TEST(MemoryPlan, MlpAndResNetStepsNeedLessThanTheSumOfTheirTensors) {
  for (const char *name : {"mlp.ir", "resnet_s.ir"}) {
    Graph model = loadExample(std::filesystem::path(NNC_SOURCE_DIR "/examples") / name);
    std::unique_ptr<Graph> step = trainingStep(model);
    ASSERT_TRUE(step);
    MemoryPlan plan = planMemory(*step, scheduleKernels(*step));
    std::vector<int64_t> dims = {64};
    uint64_t planned = plan.workspaceBytes(dims), sum = unplannedBytes(*step, dims);
    std::cout << name << " training step at B=64: planned workspace " << planned << " bytes in "
              << plan.buffers.size() << " buffers, sum of all " << step->nodes.size() << " tensors "
              << sum << " bytes, most live at once " << peakLiveBytes(*step, plan, dims)
              << " bytes\n";
    EXPECT_LT(planned, sum);
    EXPECT_LT(planned * 2, sum) << "expected the plan to at least halve the workspace";
    std::string report = memoryReport(*step, plan, dims, "step", true);
    EXPECT_NE(report.find("kept for backward"), std::string::npos);
  }
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

// An update's value goes straight into its param or state when nothing reads
// the old value afterwards; a matmul that reads the old value, or a state
// that is also an output, keeps a workspace buffer and the copy.
TEST(MemoryPlan, UpdatesComputedInTheirState) {
  const char *text = "model m {\n"
                     "  input x: f32[2, 2]\n"
                     "  state s: f32[2, 2] = ones()\n"
                     "  state u: f32[2, 2] = ones()\n"
                     "  state o: f32[2, 2] = ones()\n"
                     "  y = matmul(x, s)\n"
                     "  s <- y + s\n"
                     "  u <- matmul(u, x)\n"
                     "  o <- o * 2\n"
                     "  output y, o\n"
                     "}\n";
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  MemoryPlan plan = planMemory(*g, scheduleKernels(*g));
  std::map<std::string, ValueId> stateOf;
  for (const Update &u : g->updates)
    stateOf[g->value(u.target).name] = plan.stateOf[static_cast<size_t>(u.value)];
  EXPECT_EQ(stateOf["s"], g->findValue("s"));
  EXPECT_EQ(stateOf["u"], kNoValue);
  EXPECT_EQ(stateOf["o"], kNoValue);
  auto jit = jitCompile(*g, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
}

TEST(MemoryPlan, MlpUpdatesNeedNoCopies) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/examples/mlp.ir");
  std::stringstream text;
  text << in.rdbuf();
  Result<Graph> model = parseModel(text.str(), "mlp.ir");
  ASSERT_TRUE(model.ok());
  PassContext ctx;
  Result<Graph> step = optimizedTrainingStep(*model, ctx);
  ASSERT_TRUE(step.ok()) << step.errorText();
  MemoryPlan plan = planMemory(*step, scheduleKernels(*step));
  for (const Update &u : step->updates)
    EXPECT_EQ(plan.stateOf[static_cast<size_t>(u.value)], u.target) << step->value(u.target).name;
}

} // namespace
} // namespace nnc
