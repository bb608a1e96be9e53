/// Threads: the runtime pool runs every task exactly once, whatever the
/// sizes; compiled training steps and inference give the same bits on 1, 2
/// and 3 threads (and with the tasks run in reverse order), and match the
/// reference interpreter.
#include "codegen/Compiler.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "passes/Pipeline.h"
#include "runtime/ThreadPool.h"
#include "tests/unit/JitTestUtil.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <set>

namespace nnc {
namespace {

// ---- the pool ----------------------------------------------------------------------

using Counts = std::vector<std::atomic<int>>;

void countTask(void *ctx, int64_t i) { (*static_cast<Counts *>(ctx))[static_cast<size_t>(i)]++; }

void expectEachOnce(ThreadPool &pool, int64_t tasks) {
  Counts counts(static_cast<size_t>(tasks));
  pool.parallelFor(tasks, countTask, &counts);
  for (int64_t i = 0; i < tasks; ++i)
    ASSERT_EQ(counts[static_cast<size_t>(i)].load(), 1)
        << "task " << i << " of " << tasks << " on " << pool.threads() << " threads";
}

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t tasks : {0, 1, 2, 3, 7, 64, 1000, 100000})
      for (int repeat = 0; repeat < 3; ++repeat)
        expectEachOnce(pool, tasks);
  }
}

TEST(ThreadPool, ManySmallJobsBackToBack) {
  ThreadPool pool(3);
  for (int job = 0; job < 5000; ++job)
    expectEachOnce(pool, 1 + job % 5);
}

TEST(ThreadPool, SpreadsTasksOverItsThreads) {
  struct Seen {
    std::mutex mutex;
    std::set<std::thread::id> ids;
  } seen;
  ThreadPool pool(2);
  pool.parallelFor(
      16,
      [](void *ctx, int64_t) {
        auto *s = static_cast<Seen *>(ctx);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::lock_guard<std::mutex> lock(s->mutex);
        s->ids.insert(std::this_thread::get_id());
      },
      &seen);
  EXPECT_EQ(seen.ids.size(), 2u);
}

/// Tasks 0..4 are the caller's share of 10 tasks on 2 threads. When the
/// caller runs task 0, it waits there until another thread has run one of
/// the others (if the caller was slow to start, the worker may even take
/// task 0 itself, which counts as well).
struct StolenWork {
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> stolen{0};
  Counts counts = Counts(10);
};

void runOrWaitForAThief(void *ctx, int64_t i) {
  auto *w = static_cast<StolenWork *>(ctx);
  w->counts[static_cast<size_t>(i)]++;
  bool byCaller = std::this_thread::get_id() == w->caller;
  if (i < 5 && !byCaller)
    w->stolen++;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (i == 0 && byCaller && w->stolen.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
}

TEST(ThreadPool, AThreadDoneWithItsShareRunsTheOthers) {
  ThreadPool pool(2);
  StolenWork work;
  pool.parallelFor(10, runOrWaitForAThief, &work);
  EXPECT_GT(work.stolen.load(), 0);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(work.counts[static_cast<size_t>(i)].load(), 1) << "task " << i;
}

/// A task that runs a whole parallel loop on the same pool (inline).
struct Nested {
  ThreadPool *pool;
  std::vector<Counts> inner;
};

TEST(ThreadPool, NestedAndConcurrentCallsStillRunEveryTaskOnce) {
  ThreadPool pool(3);
  Nested nested{&pool, std::vector<Counts>(10)};
  for (Counts &c : nested.inner)
    c = Counts(50);
  pool.parallelFor(
      10,
      [](void *ctx, int64_t i) {
        auto *n = static_cast<Nested *>(ctx);
        n->pool->parallelFor(50, countTask, &n->inner[static_cast<size_t>(i)]);
      },
      &nested);
  for (Counts &c : nested.inner)
    for (auto &count : c)
      ASSERT_EQ(count.load(), 1);

  // Two callers at once: one runs on the pool, the other inline.
  std::vector<std::thread> callers;
  for (int c = 0; c < 2; ++c)
    callers.emplace_back([&pool] {
      for (int job = 0; job < 300; ++job)
        expectEachOnce(pool, 1 + job % 40);
    });
  for (std::thread &t : callers)
    t.join();
}

TEST(ThreadPool, SharedPoolsAreKeptBySize) {
  std::shared_ptr<ThreadPool> a = ThreadPool::shared(3), b = ThreadPool::shared(3);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->threads(), 3);
  EXPECT_NE(ThreadPool::shared(2).get(), a.get());
  EXPECT_EQ(ThreadPool::shared(0)->threads(), ThreadPool::defaultThreads());
  EXPECT_GE(ThreadPool::defaultThreads(), 1);
}

// ---- compiled models ---------------------------------------------------------------

using jittest::loadExample;

/// Two convolutions with both pools, big enough at batch 32 that every conv
/// op, max pooling and the matmuls run as parallel tasks.
const char *kConvNet = R"(model convnet {
  dim B
  input x: f32[B, 3, 32, 32]
  input label: i32[B]
  param k1: f32[8, 3, 3, 3] = he_normal(seed=1)
  param k2: f32[8, 8, 3, 3] = he_normal(seed=2)
  param c2: f32[8] = uniform(-0.1, 0.1, seed=3)
  param w: f32[512, 10] = glorot_uniform(seed=4)
  param b: f32[10] = zeros()
  a = relu(conv2d(x, k1, padding=1))
  p = maxpool2d(a, kernel=2)
  c = tanh(conv2d(p, k2, c2, padding=1))
  q = avgpool2d(c, kernel=2)
  logits = matmul(reshape(q, shape=[B, -1]), w) + b
  loss = softmax_cross_entropy(logits, label)
  output logits
  minimize loss with sgd(lr=0.05, momentum=0.9)
}
)";

/// The compiled model's graphs, from the default pipelines (fusion included).
struct Compiled {
  Graph infer, step;
};

Compiled optimize(const Graph &model) {
  PassContext ctx;
  auto step = optimizedTrainingStep(model, ctx);
  auto infer = optimizedInference(model, ctx);
  EXPECT_TRUE(step.ok() && infer.ok()) << step.errorText() << infer.errorText();
  return {std::move(infer).value(), std::move(step).value()};
}

/// Counts the parallel loops handed to it and runs their tasks backwards.
struct ReverseRunner {
  int loops = 0;
  static void run(void *self, int64_t tasks, void (*task)(void *, int64_t), void *ctx) {
    static_cast<ReverseRunner *>(self)->loops++;
    for (int64_t t = tasks - 1; t >= 0; --t)
      task(ctx, t);
  }
};

struct Trained {
  std::vector<float> losses;
  std::vector<std::string> names; ///< every param and state, in state order
  std::vector<Tensor> state;      ///< their values after the last step
  std::vector<Tensor> outputs;    ///< inference after the last step
};

/// The inputs of `to` from those of `from`, by name.
std::vector<Tensor> inputsFor(const Graph &to, const Graph &from, const std::vector<Tensor> &in) {
  std::vector<ValueId> ids = from.valuesOfKind(ValueKind::Input);
  std::vector<Tensor> out;
  for (ValueId id : to.valuesOfKind(ValueKind::Input))
    for (size_t i = 0; i < ids.size(); ++i)
      if (from.value(ids[i]).name == to.value(id).name)
        out.push_back(in[i]);
  return out;
}

/// One compiled model, trained from its initial state on any thread count.
class Runs {
public:
  /// `compileThreads`: the JIT's threads when it compiles (CompileOptions),
  /// which is also the number of partitions a large enough module is
  /// compiled in; `gemmLibrary` as in CompileOptions.
  explicit Runs(const Graph &model, int compileThreads = 0, bool gemmLibrary = true)
      : c_(optimize(model)) {
    CompileOptions options;
    options.threads = compileThreads;
    options.gemmLibrary = gemmLibrary;
    auto session = JitSession::create(c_.infer, &c_.step, options);
    EXPECT_TRUE(session.ok()) << session.errorText();
    session_ = std::move(session).value();
    names_ = session_->stateNames();
    for (const std::string &name : names_)
      initial_.push_back(session_->read(name));
  }

  const Compiled &graphs() const { return c_; }

  /// Trains `steps` steps on `inputs` with `threads` threads (0: a reverse
  /// runner, which must see parallel loops), then infers.
  Trained train(const std::vector<Tensor> &inputs, int steps, int threads) {
    for (size_t i = 0; i < names_.size(); ++i)
      EXPECT_TRUE(session_->write(names_[i], initial_[i]).ok());
    session_->setThreads(std::max(threads, 1));
    ReverseRunner reverse;
    if (threads == 0)
      session_->model().functions().setParallelRunner(&ReverseRunner::run, &reverse);
    Trained out;
    for (int s = 0; s < steps; ++s) {
      auto loss = session_->trainStep(inputs);
      EXPECT_TRUE(loss.ok()) << loss.errorText();
      out.losses.push_back(loss.ok() ? *loss : NAN);
    }
    out.names = names_;
    for (const std::string &name : names_)
      out.state.push_back(session_->read(name));
    auto outputs = session_->infer(inputsFor(c_.infer, c_.step, inputs));
    EXPECT_TRUE(outputs.ok()) << outputs.errorText();
    if (outputs.ok())
      out.outputs = std::move(outputs).value();
    if (threads == 0) {
      EXPECT_GT(reverse.loops, 0) << "no parallel loop ran";
    }
    session_->setThreads(1); // never leave the reverse runner installed
    return out;
  }

private:
  Compiled c_;
  std::unique_ptr<JitSession> session_;
  std::vector<std::string> names_;
  std::vector<Tensor> initial_;
};

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.bytes() == b.bytes() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes())) == 0;
}

void expectSameBits(const Trained &a, const Trained &b, const std::string &what) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t s = 0; s < a.losses.size(); ++s)
    EXPECT_EQ(std::memcmp(&a.losses[s], &b.losses[s], sizeof(float)), 0)
        << what << ": loss of step " << s << ": " << a.losses[s] << " vs " << b.losses[s];
  ASSERT_EQ(a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i)
    EXPECT_TRUE(sameBits(a.state[i], b.state[i])) << what << ": state tensor " << i;
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i)
    EXPECT_TRUE(sameBits(a.outputs[i], b.outputs[i])) << what << ": output " << i;
}

/// One step of the interpreter against one compiled step on 3 threads.
void expectFirstStepMatchesInterpreter(Runs &runs, const std::vector<Tensor> &inputs,
                                       const std::string &what) {
  const Compiled &c = runs.graphs();
  Interpreter interp(c.step);
  ASSERT_TRUE(interp.run(inputs).ok());
  double want = interp.value(c.step.outputs.back().value).at(0);
  interp.applyUpdates();
  Trained got = runs.train(inputs, 1, 3);
  ASSERT_EQ(got.losses.size(), 1u);
  EXPECT_NEAR(got.losses[0], want, 1e-5 * std::max(1.0, std::fabs(want))) << what;
  for (size_t i = 0; i < got.names.size(); ++i)
    jittest::expectClose(got.state[i], interp.value(c.step.findValue(got.names[i])),
                         what + ": " + got.names[i] + " after one step");
}

/// Bit-identical results on 1, 2 and 3 threads and with reversed tasks
/// over several steps; the first step matches the interpreter.
std::vector<Tensor> trainingInputs(const Graph &step, int64_t batch) {
  std::vector<int64_t> dims(step.dims.size(), batch);
  return jittest::randomInputs(step, dims, 10, [](auto &, Tensor &t) {
    if (t.dtype() == DType::F32) // pixels in [0, 1]
      for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = 0.25f * (t.f32()[i] + 2.0f);
  });
}

/// `againstInterpreter` false: bf16 steps, which Bf16Test compares with the
/// interpreter at bf16's tolerance, not f32's.
void expectDeterministic(Runs &runs, int64_t batch, int steps, bool againstInterpreter = true) {
  const Graph &step = runs.graphs().step;
  std::vector<Tensor> inputs = trainingInputs(step, batch);
  std::string what = step.name + " at batch " + std::to_string(batch);
  Trained one = runs.train(inputs, steps, 1);
  for (int threads : {2, 3, 0})
    expectSameBits(one, runs.train(inputs, steps, threads),
                   what + (threads ? " on " + std::to_string(threads) + " threads" : " reversed"));
  if (againstInterpreter)
    expectFirstStepMatchesInterpreter(runs, inputs, what);
}

TEST(Threads, MlpTrainingIsBitIdenticalOnAnyThreadCount) {
  Runs mlp(loadExample("mlp.ir"));
  expectDeterministic(mlp, 64, 4);
  expectDeterministic(mlp, 3, 4);
}

// bf16 GEMMs: on one thread a GEMM converts A to pairs once for all its
// tasks, on more each task converts its own rows; the same bits.
TEST(Threads, Bf16MlpTrainingIsBitIdenticalOnAnyThreadCount) {
  if (!jittest::hostHasBf16())
    GTEST_SKIP() << "this CPU has no AVX512_BF16";
  Result<Graph> g = parseModel(jittest::bf16MlpText(), "mlp.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  for (bool library : {true, false}) {
    Runs mlp(*g, 0, library);
    expectDeterministic(mlp, 64, 3, false);
    expectDeterministic(mlp, 67, 2, false);
  }
}

TEST(Threads, CnnTrainingIsBitIdenticalOnAnyThreadCount) {
  Runs cnn(loadExample("cnn.ir"));
  expectDeterministic(cnn, 16, 3);
}

TEST(Threads, ConvNetWithPoolsIsBitIdenticalOnAnyThreadCount) {
  Result<Graph> g = parseModel(kConvNet, "convnet.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Runs convnet(*g);
  expectDeterministic(convnet, 32, 3);
}

// The JIT compiles its module in as many partitions as it has threads, at
// most one per core and one per 1500 instructions (codegen/ParallelCompile.h):
// the results are the same. The MLP with its GEMMs compiled in is 7400
// instructions, resnet_s with the GEMM library 5200.
TEST(Threads, ModelsCompiledInPartitionsGiveTheSameBits) {
  for (auto [example, library] : {std::pair{"mlp.ir", false}, std::pair{"resnet_s.ir", true}}) {
    Graph model = loadExample(example);
    Runs whole(model, 1, library);
    std::vector<Tensor> inputs = trainingInputs(whole.graphs().step, 8);
    Trained want = whole.train(inputs, 3, 1);
    for (int parts : {2, 3}) {
      Runs split(model, parts, library);
      expectSameBits(want, split.train(inputs, 3, 1),
                     std::string(example) + " in " + std::to_string(parts) + " partitions");
    }
  }
}

TEST(Threads, HostApiSetsTheThreadCount) {
  CompileOptions options;
  options.threads = 3;
  auto session = JitSession::create(loadExample("xor.ir"), nullptr, options);
  ASSERT_TRUE(session.ok()) << session.errorText();
  EXPECT_EQ((*session)->model().threads(), 3);
  (*session)->setThreads(0);
  EXPECT_EQ((*session)->model().threads(), ThreadPool::defaultThreads());
  (*session)->setThreads(1);
  EXPECT_EQ((*session)->model().threads(), 1);
}

TEST(Threads, TheHeaderDeclaresTheRunnerSetter) {
  Graph g = loadExample("xor.ir");
  std::string h = cHeader(g, nullptr, CompileOptions{});
  EXPECT_NE(h.find("typedef void (*xor_parallel_runner)(void *pool, int64_t tasks,"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("void     xor_set_parallel_runner(xor_parallel_runner run, void *pool);"),
            std::string::npos)
      << h;
}

} // namespace
} // namespace nnc

namespace nnc {
namespace {

/// Layer norms (plain and after a residual add, so fused_add_layernorm)
/// whose gradients take their gamma and beta sums in parallel chunks of rows
/// (codegen/lower/Norm.cpp): the same bits on any thread count.
TEST(Threads, LayerNormGradientsAreBitIdenticalOnAnyThreadCount) {
  const char *text = R"(model lnnet {
  dim B
  input x: f32[B, 8, 64]
  input t: f32[B, 8, 64]
  param w: f32[64, 64] = normal(0, 0.1, seed=1)
  param g1: f32[64] = ones()
  param b1: f32[64] = zeros()
  param g2: f32[64] = ones()
  param b2: f32[64] = zeros()
  h = layernorm(x, g1, b1)
  y = layernorm(matmul(h, w) + x, g2, b2)
  loss = mse(y, t)
  minimize loss with sgd(lr=0.1)
}
)";
  Result<Graph> g = parseModel(text, "lnnet.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Runs net(*g);
  expectDeterministic(net, 64, 3);
  expectDeterministic(net, 97, 2); // 776 rows: the last chunk shorter
}

} // namespace
} // namespace nnc
