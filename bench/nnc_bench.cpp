// nnc_bench: one benchmark workload per invocation, one JSON line on stdout.
//
//   nnc_bench --workload NAME --engine nnc|nnc-inline|onednn|cpu --threads N --reps R
//             [--precision f32|bf16]
//
// nnc-inline is nnc with every GEMM compiled into the model instead of
// calling the GEMM library (codegen/GemmLibrary.h), as `nnc compile` does.
//
// Workloads (see bench/README.md):
//   mm_784x256   relu(x W + b), x 64x784, W 784x256        (nnc, onednn)
//   mm_512       relu(x W + b), 512x512 by 512x512         (nnc, onednn)
//   mlp_train    MLP 784-256-256-10 train step, batch 64   (nnc)
//   xor_train    XOR 2-4-1 sigmoid train step, batch 4     (nnc)
//   resln_fwd    residual block + layernorm, 512, batch 64 (nnc)
//   resln_train  the same, forward + backward + SGD        (nnc)
//   conv_fwd     conv2d 3x3 1->16, 28x28, batch 64         (nnc)
//   compile_mlp  cold JIT compile of examples/mlp.ir with its training step,
//                no disk cache (nnc); every rep compiles again, the first is cold
//   fma_peak     this machine's FP32 FMA peak (engine cpu), N threads
//
// Each sample times enough back-to-back calls to last >= ~2 ms and reports
// the time per call; the median of R samples is "median_us". nnc runs on
// --threads N threads of its runtime pool ("engine_threads": N).
#include <nnc/Host.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifndef NNC_SOURCE_DIR
#define NNC_SOURCE_DIR "."
#endif

namespace {

using Clock = std::chrono::steady_clock;

double nowUs() {
  return std::chrono::duration<double, std::micro>(Clock::now().time_since_epoch()).count();
}

struct Aligned {
  explicit Aligned(uint64_t bytes) {
    size_t n = (bytes + 63) / 64 * 64 + 64;
    p = std::aligned_alloc(64, n);
    std::memset(p, 0, n);
  }
  Aligned(const Aligned &) = delete;
  Aligned &operator=(const Aligned &) = delete;
  ~Aligned() { std::free(p); }
  float *f() { return static_cast<float *>(p); }
  int32_t *i() { return static_cast<int32_t *>(p); }
  void *p;
};

void fillUniform(float *p, size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (size_t i = 0; i < n; ++i)
    p[i] = d(rng);
}

struct Measurement {
  double medianUs = 0;
  std::vector<double> samplesUs;
  long itersPerSample = 1;
};

/// Warms up, picks a call count per sample (>= ~2 ms), then takes `reps`
/// samples of the time per call.
Measurement measure(const std::function<void()> &fn, int reps) {
  for (int i = 0; i < 3; ++i)
    fn();
  double t0 = nowUs();
  fn();
  double one = std::max(nowUs() - t0, 0.05);
  long iters = std::max(1L, static_cast<long>(2000.0 / one));
  Measurement m;
  m.itersPerSample = iters;
  for (int r = 0; r < reps; ++r) {
    double s = nowUs();
    for (long i = 0; i < iters; ++i)
      fn();
    m.samplesUs.push_back((nowUs() - s) / static_cast<double>(iters));
  }
  std::vector<double> sorted = m.samplesUs;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  m.medianUs = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  return m;
}

struct Args {
  std::string workload, engine = "nnc";
  int threads = 1, reps = 15;
  bool gemmLibrary = true; ///< false for engine nnc-inline
  bool bf16 = false;       ///< --precision bf16: nnc's matmuls in bf16; oneDNN's too
};

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "nnc_bench: %s\n", msg.c_str());
  std::exit(1);
}

std::string modelPath(const std::string &file) { return std::string(NNC_SOURCE_DIR) + "/" + file; }

/// A model compiled for `threads` threads (nnc's runtime pool).
nnc::CompiledModel loadModel(const std::string &file, const Args &a) {
  nnc::CompileOptions options;
  options.threads = a.threads;
  options.gemmLibrary = a.gemmLibrary;
  options.precision = a.bf16 ? nnc::Precision::BF16 : nnc::Precision::F32;
  auto m = nnc::CompiledModel::load(modelPath(file), options);
  if (!m)
    die(file + ": " + m.errorText());
  return std::move(m).value();
}

void check(int status, const char *what) {
  if (status != 0)
    die(std::string(what) + " returned status " + std::to_string(status));
}

struct Output {
  std::string workload, engine;
  int threads = 1, engineThreads = 1;
  Measurement m;
  double flops = 0;                         ///< per call, for GFLOP/s (0: not reported)
  std::map<std::string, std::string> extra; ///< raw JSON values
};

void print(const Output &o) {
  std::string s = "{\"workload\": \"" + o.workload + "\", \"engine\": \"" + o.engine +
                  "\", \"threads\": " + std::to_string(o.threads) +
                  ", \"engine_threads\": " + std::to_string(o.engineThreads);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", o.m.medianUs);
  s += ", \"median_us\": " + std::string(buf) + ", \"samples_us\": [";
  for (size_t i = 0; i < o.m.samplesUs.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.3f", i ? ", " : "", o.m.samplesUs[i]);
    s += buf;
  }
  s += "], \"iters_per_sample\": " + std::to_string(o.m.itersPerSample);
  if (o.flops > 0) {
    std::snprintf(buf, sizeof buf, "%.2f", o.flops / (o.m.medianUs * 1e3));
    s += ", \"gflops\": " + std::string(buf);
  }
  for (const auto &[k, v] : o.extra)
    s += ", \"" + k + "\": " + v;
  std::printf("%s}\n", s.c_str());
}

// ---- nnc --------------------------------------------------------------------

struct MatmulShape {
  int64_t m, k, n;
  const char *file;
};

MatmulShape matmulShape(const std::string &w) {
  if (w == "mm_784x256")
    return {64, 784, 256, "bench/models/mm_784x256.ir"};
  if (w == "mm_512")
    return {512, 512, 512, "bench/models/mm_512.ir"};
  die("not a matmul workload: " + w);
}

/// Forward (infer) of a model with one input [B, ...] and one output.
Measurement nncInfer(const std::string &file, int64_t batch, size_t inElems, size_t outElems,
                     const Args &a) {
  nnc::CompiledModel model = loadModel(file, a);
  int64_t dims[1] = {batch};
  Aligned state(model.stateSize()), ws(model.workspaceSize(dims));
  Aligned x(inElems * 4), y(outElems * 4);
  check(model.init(state.p), "init");
  fillUniform(x.f(), inElems, -1, 1, 7);
  const void *inputs[1] = {x.p};
  void *outputs[1] = {y.p};
  return measure([&] { check(model.infer(state.p, ws.p, dims, inputs, outputs), "infer"); },
                 a.reps);
}

Output runNnc(const Args &a) {
  Output o;
  if (a.workload == "mm_784x256" || a.workload == "mm_512") {
    MatmulShape s = matmulShape(a.workload);
    o.m = nncInfer(s.file, s.m, s.m * s.k, s.m * s.n, a);
    o.flops = 2.0 * s.m * s.k * s.n;
  } else if (a.workload == "resln_fwd") {
    o.m = nncInfer("bench/models/resln_fwd.ir", 64, 64 * 512, 64 * 512, a);
    o.flops = 2 * 2.0 * 64 * 512 * 512;
  } else if (a.workload == "conv_fwd") {
    o.m = nncInfer("bench/models/conv.ir", 64, 64 * 28 * 28, 64 * 16 * 28 * 28, a);
    o.flops = 2.0 * 64 * 16 * 28 * 28 * 9;
  } else if (a.workload == "mlp_train") {
    nnc::CompiledModel model = loadModel("examples/mlp.ir", a);
    const int64_t b = 64;
    int64_t dims[1] = {b};
    Aligned state(model.stateSize()), ws(model.workspaceSize(dims));
    Aligned x(b * 784 * 4), label(b * 4);
    check(model.init(state.p), "init");
    fillUniform(x.f(), b * 784, 0, 1, 7);
    for (int64_t i = 0; i < b; ++i)
      label.i()[i] = static_cast<int32_t>(i % 10);
    const void *inputs[2] = {x.p, label.p};
    float loss = 0;
    o.m = measure([&] { check(model.trainStep(state.p, ws.p, dims, inputs, &loss), "trainStep"); },
                  a.reps);
    // Forward, weight gradients, and input gradients but the first layer's
    // (x is an input: no engine computes its gradient).
    o.flops = 2.0 * b * (2 * 784 * 256 + 3 * (256 * 256 + 256 * 10));
  } else if (a.workload == "xor_train") {
    nnc::CompiledModel model = loadModel("bench/models/xor241.ir", a);
    int64_t dims[1] = {4};
    Aligned state(model.stateSize()), ws(model.workspaceSize(dims));
    Aligned x(8 * 4), y(4 * 4);
    check(model.init(state.p), "init");
    const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    std::memcpy(x.p, xs, sizeof xs);
    std::memcpy(y.p, ys, sizeof ys);
    const void *inputs[2] = {x.p, y.p};
    float loss = 0;
    o.m = measure([&] { check(model.trainStep(state.p, ws.p, dims, inputs, &loss), "trainStep"); },
                  a.reps);
  } else if (a.workload == "resln_train") {
    nnc::CompiledModel model = loadModel("bench/models/resln_train.ir", a);
    int64_t dims[1] = {64};
    Aligned state(model.stateSize()), ws(model.workspaceSize(dims));
    Aligned x(64 * 512 * 4), t(64 * 512 * 4);
    check(model.init(state.p), "init");
    fillUniform(x.f(), 64 * 512, -1, 1, 7);
    fillUniform(t.f(), 64 * 512, -1, 1, 8);
    const void *inputs[2] = {x.p, t.p};
    float loss = 0;
    o.m = measure([&] { check(model.trainStep(state.p, ws.p, dims, inputs, &loss), "trainStep"); },
                  a.reps);
    o.flops = 5 * 2.0 * 64 * 512 * 512; // both GEMMs 3 times, but x's gradient
  } else if (a.workload == "compile_mlp") {
    // Cold: no disk cache (useCache=false; the driver also points
    // NNC_CACHE_DIR at an empty directory). The first compile in the process
    // also pays LLVM's one-time start-up, which is reported as "first_us".
    nnc::CompileOptions opts;
    opts.useCache = false;
    opts.threads = a.threads; // the JIT compiles on as many threads as it runs on
    opts.gemmLibrary = a.gemmLibrary;
    opts.precision = a.bf16 ? nnc::Precision::BF16 : nnc::Precision::F32;
    double first = -1;
    nnc::CompileTimes lastTimes;
    for (int r = 0; r < a.reps; ++r) {
      double s = nowUs();
      auto m = nnc::CompiledModel::load(modelPath("examples/mlp.ir"), opts);
      double us = nowUs() - s;
      if (!m)
        die(m.errorText());
      lastTimes = m->times();
      if (first < 0)
        first = us;
      o.m.samplesUs.push_back(us);
    }
    std::vector<double> sorted = o.m.samplesUs;
    std::sort(sorted.begin(), sorted.end());
    size_t n = sorted.size();
    o.m.medianUs = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    char buf[200];
    std::snprintf(buf, sizeof buf, "%.3f", first);
    o.extra["first_us"] = buf;
    std::snprintf(
        buf, sizeof buf,
        "{\"lower_ms\": %.3f, \"split_ms\": %.3f, \"optimize_ms\": %.3f, \"codegen_ms\": %.3f, "
        "\"link_ms\": %.3f}",
        lastTimes.lowerMs, lastTimes.splitMs, lastTimes.optimizeMs, lastTimes.codegenMs,
        lastTimes.linkMs);
    o.extra["phases_last"] = buf;
  } else {
    die("unknown workload for engine nnc: " + a.workload);
  }
  o.engineThreads = a.threads; // nnc's runtime pool (compile_mlp: unused)
  return o;
}

// ---- oneDNN -------------------------------------------------------------------

Output runOnednn(const Args &a) {
  using namespace dnnl;
  using tag = memory::format_tag;
  using dt = memory::data_type;
  if (a.workload != "mm_784x256" && a.workload != "mm_512")
    die("engine onednn runs only the matmul workloads, not " + a.workload);
  omp_set_num_threads(a.threads);
  MatmulShape s = matmulShape(a.workload);
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  // bf16: oneDNN's operands are bf16 already (converted before timing, its
  // best case); nnc converts f32 operands as it packs them, inside the time.
  dt operands = a.bf16 ? dt::bf16 : dt::f32;
  memory::desc srcF32Md({s.m, s.k}, dt::f32, tag::ab);
  memory::desc srcMd({s.m, s.k}, operands, tag::ab);
  memory::desc wAnyMd({s.k, s.n}, operands, tag::any);
  memory::desc wPlainMd({s.k, s.n}, dt::f32, tag::ab);
  memory::desc biasMd({1, s.n}, dt::f32, tag::ab);
  memory::desc dstMd({s.m, s.n}, dt::f32, tag::ab);
  post_ops po;
  po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  primitive_attr attr;
  attr.set_post_ops(po);
  matmul::desc desc(srcMd, wAnyMd, biasMd, dstMd);
  matmul::primitive_desc pd(desc, attr, eng);
  memory srcF32(srcF32Md, eng), src(srcMd, eng), wPlain(wPlainMd, eng), bias(biasMd, eng),
      dst(dstMd, eng);
  fillUniform(static_cast<float *>(srcF32.get_data_handle()), s.m * s.k, -1, 1, 7);
  reorder(srcF32, src).execute(strm, srcF32, src);
  fillUniform(static_cast<float *>(wPlain.get_data_handle()), s.k * s.n, -0.1f, 0.1f, 8);
  fillUniform(static_cast<float *>(bias.get_data_handle()), s.n, -0.1f, 0.1f, 9);
  // Weights in the layout oneDNN prefers, reordered once (not timed), as an
  // inference framework would keep them.
  memory w = wPlain;
  if (pd.weights_desc() != wPlainMd) {
    w = memory(pd.weights_desc(), eng);
    reorder(wPlain, w).execute(strm, wPlain, w);
    strm.wait();
  }
  matmul prim(pd);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
  Output o;
  o.m = measure(
      [&] {
        prim.execute(strm, args);
        strm.wait();
      },
      a.reps);
  o.flops = 2.0 * s.m * s.k * s.n;
  o.engineThreads = omp_get_max_threads();
  o.extra["impl"] = "\"" + std::string(pd.impl_info_str()) + "\"";
  return o;
}

// ---- the machine's FMA peak ----------------------------------------------------

template <int Acc> __attribute__((target("avx512f"))) float fmaLoop512(long iters) {
  __m512 acc[Acc];
  for (int i = 0; i < Acc; ++i)
    acc[i] = _mm512_set1_ps(1.0f + static_cast<float>(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < Acc; ++i)
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < Acc; ++i)
    s = _mm512_add_ps(s, acc[i]);
  // Summed through memory: GCC 12's _mm512_reduce_add_ps trips its own
  // -Wuninitialized (the __Y = __Y idiom in avx512fintrin.h).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float sum = 0;
  for (float lane : lanes)
    sum += lane;
  return sum;
}

template <int Acc> __attribute__((target("avx2,fma"))) float fmaLoop256(long iters) {
  __m256 acc[Acc];
  for (int i = 0; i < Acc; ++i)
    acc[i] = _mm256_set1_ps(1.0f + static_cast<float>(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < Acc; ++i)
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < Acc; ++i)
    s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/// GFLOP/s of `threads` threads each running the FMA loop.
double fmaGflops(int threads, bool zmm) {
  const long iters = 4'000'000;
  constexpr int acc = 16;
  const double flopsPerThread = 2.0 * acc * (zmm ? 16 : 8) * static_cast<double>(iters);
  std::atomic<float> sink{0};
  double s = nowUs();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      float v = zmm ? fmaLoop512<acc>(iters) : fmaLoop256<acc>(iters);
      sink.store(v);
    });
  for (auto &t : pool)
    t.join();
  double us = nowUs() - s;
  return flopsPerThread * threads / (us * 1e3);
}

Output runPeak(const Args &a) {
  if (a.workload != "fma_peak")
    die("engine cpu runs only fma_peak");
  bool zmm = __builtin_cpu_supports("avx512f");
  fmaGflops(a.threads, zmm); // warm up, lets the clock settle
  std::vector<double> g512, g256;
  for (int r = 0; r < std::max(3, a.reps / 3); ++r) {
    if (zmm)
      g512.push_back(fmaGflops(a.threads, true));
    g256.push_back(fmaGflops(a.threads, false));
  }
  auto best = [](std::vector<double> v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  Output o;
  double peak = std::max(best(g512), best(g256));
  o.m.samplesUs = {};
  o.m.medianUs = 0;
  o.engineThreads = a.threads;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", peak);
  o.extra["peak_gflops"] = buf;
  std::snprintf(buf, sizeof buf, "%.2f", best(g512));
  o.extra["zmm_gflops"] = buf;
  std::snprintf(buf, sizeof buf, "%.2f", best(g256));
  o.extra["ymm_gflops"] = buf;
  return o;
}

} // namespace

int main(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        die("missing value after " + k);
      return argv[++i];
    };
    if (k == "--workload")
      a.workload = next();
    else if (k == "--engine")
      a.engine = next();
    else if (k == "--threads")
      a.threads = std::max(1, std::atoi(next().c_str()));
    else if (k == "--reps")
      a.reps = std::max(1, std::atoi(next().c_str()));
    else if (k == "--precision")
      a.bf16 = next() == "bf16";
    else
      die("usage: nnc_bench --workload NAME --engine nnc|nnc-inline|onednn|cpu --threads N "
          "--reps R [--precision f32|bf16]");
  }
  if (a.workload.empty())
    die("--workload is required");
  Output o;
  a.gemmLibrary = a.engine != "nnc-inline";
  if (a.engine == "nnc" || a.engine == "nnc-inline")
    o = runNnc(a);
  else if (a.engine == "onednn")
    o = runOnednn(a);
  else if (a.engine == "cpu")
    o = runPeak(a);
  else
    die("unknown engine " + a.engine);
  o.workload = a.workload;
  o.engine = a.engine;
  o.threads = a.threads;
  print(o);
  return 0;
}
