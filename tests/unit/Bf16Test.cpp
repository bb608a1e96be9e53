/// Mixed precision (precision=bf16, passes/MixedPrecision.h): the rounding,
/// the compiled bf16 kernels against the interpreter's bf16-rounded
/// reference (exact products, sums in double) at f32 tolerance and against
/// the f32 interpreter at bf16's, the training step, and the errors.
#include "JitTestUtil.h"
#include "codegen/Compiler.h"
#include "codegen/Session.h"
#include "frontend/Parser.h"
#include "ir/NodeAttrs.h"
#include "ir/Printer.h"
#include "passes/MixedPrecision.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "runtime/Bf16.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <cstring>
#include <tuple>

namespace nnc {
namespace {

using namespace jittest;

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

#define SKIP_WITHOUT_BF16()                                                                        \
  if (!hostHasBf16())                                                                              \
  GTEST_SKIP() << "this CPU has no AVX512_BF16"

TEST(Bf16Rounding, NearestEvenOnTheBitsAndSpecialValues) {
  EXPECT_EQ(roundToBf16(1.0f), 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1.
  EXPECT_EQ(roundToBf16(1.00390625f), 1.0f);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to the even one.
  EXPECT_EQ(roundToBf16(1.01171875f), 1.015625f);
  // Just above the halfway point: up.
  EXPECT_EQ(roundToBf16(fromBits(0x3f808001u)), 1.0078125f);
  EXPECT_EQ(roundToBf16(fromBits(0x3f807fffu)), 1.0f);
  EXPECT_EQ(bitsOf(roundToBf16(-0.0f)), 0x80000000u);
  EXPECT_EQ(roundToBf16(-2.5f), -2.5f);
  EXPECT_EQ(roundToBf16(INFINITY), INFINITY);
  EXPECT_EQ(roundToBf16(FLT_MAX), INFINITY); // past bf16's largest: overflows as vcvtneps2bf16 does
  EXPECT_TRUE(std::isnan(roundToBf16(NAN)));
  EXPECT_TRUE(std::isnan(roundToBf16(fromBits(0x7f800001u)))); // a NaN whose payload is low bits
  EXPECT_EQ(bitsOf(roundToBf16(0.1f)) & 0xffffu, 0u);
  // Denormals flush to a zero of their sign, as vcvtne2ps2bf16 does.
  EXPECT_EQ(bitsOf(roundToBf16(fromBits(0x00400000u))), 0u);
  EXPECT_EQ(bitsOf(roundToBf16(fromBits(0x807fffffu))), 0x80000000u);
  EXPECT_EQ(roundToBf16(FLT_MIN), FLT_MIN); // the smallest normal stays
  EXPECT_NEAR(roundToBf16(0.1f), 0.1f, 0.1f / 256);
}

/// One matmul per (k, n) of `kn` at the given flags, precision `precision`.
std::string matmuls(bool ta, bool tb, const std::vector<std::pair<int64_t, int64_t>> &kn,
                    const std::string &precision) {
  std::string text = "model m {\n dim B\n", body, outputs;
  for (size_t i = 0; i < kn.size(); ++i) {
    auto [k, n] = kn[i];
    std::string id = std::to_string(i), ks = std::to_string(k), ns = std::to_string(n);
    text += " input a" + id + ": f32[" + (ta ? ks + ", B" : "B, " + ks) + "]\n";
    text += " input b" + id + ": f32[" + (tb ? ns + ", " + ks : ks + ", " + ns) + "]\n";
    body += " c" + id + " = matmul(a" + id + ", b" + id +
            ", transpose_a=" + (ta ? "true" : "false") +
            ", transpose_b=" + (tb ? "true" : "false") + ", precision=" + precision + ")\n";
    outputs += (outputs.empty() ? " output c" : ", c") + id;
  }
  return text + body + outputs + "\n}\n";
}

// Blocked GEMMs (an odd depth, a depth past one block of 256, columns that
// are not whole panels) and one small enough for the plain loop nest.
const std::vector<std::pair<int64_t, int64_t>> kShapes = {{300, 200}, {77, 50}, {513, 40}, {3, 4}};

TEST(Bf16MatMul, EveryTransposeCombinationMatchesTheBf16Reference) {
  SKIP_WITHOUT_BF16();
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      expectJitMatchesInterpreter(matmuls(ta, tb, kShapes, "bf16"), {1, 3, 64, 67});
}

// A stored [m, k] becomes pairs in blocks of 32 depths, the block an odd
// depth ends in read through a mask: the element just past row i's last
// depth is row i + 1's first, here an infinity, and must not reach row i's
// sums (its pair's second half meets a zero of B, and inf x 0 is NaN).
TEST(Bf16MatMul, TheDepthAfterARowsLastIsNotRead) {
  SKIP_WITHOUT_BF16();
  std::string text = "model m {\n input a: f32[16, 77]\n input b: f32[77, 64]\n"
                     " c = matmul(a, b, precision=bf16)\n output c\n}\n";
  Graph g = parsedOrFail(text);
  Tensor a(DType::F32, {16, 77}), b(DType::F32, {77, 64});
  fillUniform(a.f32(), a.numel(), -1, 1, 3);
  fillUniform(b.f32(), b.numel(), -1, 1, 4);
  a.f32()[77] = std::numeric_limits<float>::infinity(); // row 1, depth 0
  auto jit = jitCompile(g, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  std::vector<Tensor> out = jittest::expectSame(g, (*jit)->functions(), {}, {a, b}, text);
  ASSERT_EQ(out.size(), 1u);
  for (int64_t j = 0; j < 64; ++j)
    EXPECT_TRUE(std::isfinite(out[0].f32()[j])) << "row 0, column " << j;
}

/// expectJitMatchesInterpreter(text, dims) compiled for one thread and for two.
void expectOnOneAndTwoThreads(const std::string &text, const std::vector<int64_t> &dims) {
  for (int threads : {1, 2}) {
    CompileOptions options;
    options.threads = threads;
    expectJitMatchesInterpreter(text, dims, 1, nullptr, options);
  }
}

// A's pairs converted once for all the column tasks of a GEMM
// (GemmOperands::aPairs: 67 rows, a last group of 3 rows, 150 pairs a
// depth block), and by each task where they would not fit that area (600
// rows), on one thread and two: the bf16 reference either way.
TEST(Bf16MatMul, PairsOfAConvertedOnceOrPerTaskMatchTheBf16Reference) {
  SKIP_WITHOUT_BF16();
  for (bool ta : {false, true})
    expectOnOneAndTwoThreads(matmuls(ta, false, {{600, 160}}, "bf16"), {67, 600});
}

// A stored [k, m] becomes pairs two tiles (16 rows) at a time in each
// task, the second tile reading the upper slots; a tile with no second in
// its row block converts its own 8 rows. Row counts whose blocks hold an
// odd number of tiles (24, 40, 136 in blocks of 40) and row remainders
// (59), one thread and two. Each task converts its own rows where one
// column chunk takes all of N (n = 40) or A's pairs pass the shared area
// (k = 2048, m = 136); the other cases share them.
TEST(Bf16MatMul, TransposedAConvertedTwoTilesAtATime) {
  SKIP_WITHOUT_BF16();
  for (bool tb : {false, true})
    expectOnOneAndTwoThreads(matmuls(true, tb, {{2048, 200}, {513, 40}}, "bf16"),
                             {8, 24, 40, 59, 136});
}

/// The largest difference between `got` and `want`, relative to want's largest element.
double relativeError(const Tensor &got, const Tensor &want) {
  double largest = 1e-30, diff = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    largest = std::max(largest, std::fabs(double(want.at(i))));
    diff = std::max(diff, std::fabs(double(got.at(i)) - want.at(i)));
  }
  return diff / largest;
}

/// The JIT's bf16 outputs of model `text` (every op precision=bf16) against
/// the same model in f32, in the interpreter: within bf16's tolerance, and
/// not within f32's (the operands were rounded).
void expectBf16CloseToF32(const std::string &text, int64_t batch) {
  std::string f32Text = text;
  for (size_t at; (at = f32Text.find("precision=bf16")) != std::string::npos;)
    f32Text.replace(at, 14, "precision=f32");
  Graph bf16 = parsedOrFail(text), f32 = parsedOrFail(f32Text);
  auto jit = jitCompile(bf16, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  std::vector<int64_t> dims(bf16.dims.size(), batch);
  std::vector<Tensor> inputs = randomInputs(f32, dims);
  Interpreter reference(f32);
  ASSERT_TRUE(reference.run(inputs).ok());
  std::vector<Tensor> got = expectSame(bf16, (*jit)->functions(), dims, inputs, text);
  ASSERT_EQ(got.size(), f32.outputs.size());
  for (size_t k = 0; k < got.size(); ++k) {
    double error = relativeError(got[k], reference.value(f32.outputs[k].value));
    // bf16 keeps 8 significant bits: each operand is off by up to 2^-9.
    EXPECT_LT(error, 1e-2) << "output " << k << " of\n" << text;
    EXPECT_GT(error, 1e-5) << "output " << k << ": no rounding happened in\n" << text;
  }
}

TEST(Bf16MatMul, DiffersFromF32WithinBf16Tolerance) {
  SKIP_WITHOUT_BF16();
  for (bool ta : {false, true})
    expectBf16CloseToF32(matmuls(ta, !ta, kShapes, "bf16"), 64);
}

/// conv2d and both its gradients at one geometry, precision=bf16: square
/// filters (3x3 unless said) from `ins` to 5 channels (odd counts: a pair
/// of channels with a zero half, both ways).
std::string convolutions(int64_t size, int64_t stride, int64_t padding, int64_t ins = 3,
                         int64_t outs = 5, int64_t kernel = 3) {
  int64_t out = (size + 2 * padding - kernel) / stride + 1;
  std::string geometry =
      "stride=" + std::to_string(stride) + ", padding=" + std::to_string(padding);
  std::string c = std::to_string(ins);
  std::string x = "f32[B, " + c + ", " + std::to_string(size) + ", " + std::to_string(size) + "]";
  std::string f = std::to_string(outs);
  std::string y = "f32[B, " + f + ", " + std::to_string(out) + ", " + std::to_string(out) + "]";
  std::string k = std::to_string(kernel);
  return "model m {\n dim B\n input x: " + x + "\n input w: f32[" + f + ", " + c + ", " + k + ", " +
         k + "]\n input b: f32[" + f + "]\n" + " input dy: " + y + "\n y = conv2d(x, w, b, " +
         geometry + ", precision=bf16)\n" + " dx = conv2d_grad_input(dy, w, x, " + geometry +
         ", precision=bf16)\n" + " dw = conv2d_grad_filter(x, dy, w, " + geometry +
         ", precision=bf16)\n" + " output y, dx, dw\n}\n";
}

// The tiled kernels (vdpbf16ps on pairs of channels; stride 1 and 2; 7x7
// planes on narrower vectors; 41 channels in several groups of planes;
// 129 -> 130 channels, whose weights are too many to convert once per call
// (each task converts a block's, the last block of 2) and the plain loop
// nests (a width stride above the tiled kernels' 4).
TEST(Bf16Conv, ForwardAndBothGradientsMatchTheBf16Reference) {
  SKIP_WITHOUT_BF16();
  for (auto [size, stride, padding, ins, outs] : {std::tuple{12, 1, 1, 3, 5},
                                                  {13, 2, 1, 3, 5},
                                                  {12, 5, 0, 3, 5},
                                                  {7, 1, 1, 4, 5},
                                                  {40, 1, 1, 41, 5},
                                                  {6, 1, 1, 129, 130}}) {
    std::string text = convolutions(size, stride, padding, ins, outs);
    expectJitMatchesInterpreter(text, {1, 2});
    expectBf16CloseToF32(text, 2);
  }
}

// 1x1 filters, whose filter gradient takes several channels per task (8:
// 4 at a time, 6: 2 at a time), at stride 1 and 2 (a phase and every other
// row of x read).
TEST(Bf16Conv, OneByOneFiltersMatchTheBf16Reference) {
  SKIP_WITHOUT_BF16();
  for (auto [size, stride, ins] : {std::tuple{12, 1, 8}, {13, 2, 6}, {28, 2, 8}}) {
    std::string text = convolutions(size, stride, 0, ins, 5, 1);
    expectJitMatchesInterpreter(text, {1, 3});
    expectBf16CloseToF32(text, 2);
  }
}

// The bf16 filter gradient's last chunk of a row (19 and 20 columns: the
// masked tail of a vector) must read 0 past the row's end, not the
// infinity in the next row's first column (no padding): it reaches only the
// taps that read it (0 x inf would be a NaN).
TEST(Bf16Conv, FilterGradientPairsStopAtTheRowsEnd) {
  SKIP_WITHOUT_BF16();
  for (int64_t width : {21, 22}) {
    int64_t ow = width - 2;
    std::string text = "model m {\n input x: f32[2, 1, 4, " + std::to_string(width) +
                       "]\n input dy: f32[2, 2, 2, " + std::to_string(ow) +
                       "]\n input w: f32[2, 1, 3, 3]\n" +
                       " g = conv2d_grad_filter(x, dy, w, precision=bf16)\n output g\n}\n";
    Result<Graph> g = parseModel(text, "m.ir");
    ASSERT_TRUE(g.ok()) << g.errorText();
    Tensor x(DType::F32, {2, 1, 4, width}), dy(DType::F32, {2, 2, 2, ow}),
        w(DType::F32, {2, 1, 3, 3});
    fillUniform(x.f32(), x.numel(), -1, 1, 3);
    fillUniform(dy.f32(), dy.numel(), -1, 1, 4);
    fillUniform(w.f32(), w.numel(), -1, 1, 5);
    x.f32()[2 * width] = std::numeric_limits<float>::infinity(); // image 0, row 2, column 0
    auto jit = jitCompile(*g, nullptr, {});
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    std::vector<Tensor> out = jittest::expectSame(*g, (*jit)->functions(), {}, {x, dy, w}, text);
    ASSERT_EQ(out.size(), 1u);
    // Column 2's taps (kw = 2) never read column 0: finite.
    for (int64_t slice = 0; slice < 2; ++slice)
      for (int64_t kh = 0; kh < 3; ++kh)
        EXPECT_TRUE(std::isfinite(out[0].f32()[slice * 9 + kh * 3 + 2])) << slice << " " << kh;
  }
}

// The bf16 filter gradient pairs dy rows r and r + 1 with x rows R and R +
// stride; an odd count of dy rows leaves the last alone, and x's row that
// would be its partner (here the last, holding an infinity) must not meet
// the 0 in its place: only the taps that read that row (kh = 2) see the
// infinity. Stride 1 and 2, with and without the row of padding.
TEST(Bf16Conv, FilterGradientRowPairsStopAtTheLastRow) {
  SKIP_WITHOUT_BF16();
  for (auto [height, stride] : {std::pair{5, 1}, std::pair{7, 2}}) {
    int64_t width = 18, oh = (height - 3) / stride + 1, ow = (width - 3) / stride + 1;
    std::string text = "model m {\n input x: f32[2, 1, " + std::to_string(height) + ", " +
                       std::to_string(width) + "]\n input dy: f32[2, 2, " + std::to_string(oh) +
                       ", " + std::to_string(ow) + "]\n input w: f32[2, 1, 3, 3]\n" +
                       " g = conv2d_grad_filter(x, dy, w, stride=" + std::to_string(stride) +
                       ", precision=bf16)\n output g\n}\n";
    Result<Graph> g = parseModel(text, "m.ir");
    ASSERT_TRUE(g.ok()) << g.errorText();
    ASSERT_EQ(oh % 2, 1);
    Tensor x(DType::F32, {2, 1, height, width}), dy(DType::F32, {2, 2, oh, ow}),
        w(DType::F32, {2, 1, 3, 3});
    fillUniform(x.f32(), x.numel(), -1, 1, 3);
    fillUniform(dy.f32(), dy.numel(), -1, 1, 4);
    fillUniform(w.f32(), w.numel(), -1, 1, 5);
    x.f32()[(height - 1) * width + 5] = std::numeric_limits<float>::infinity(); // image 0, last row
    auto jit = jitCompile(*g, nullptr, {});
    ASSERT_TRUE(jit.ok()) << jit.errorText();
    std::vector<Tensor> out = jittest::expectSame(*g, (*jit)->functions(), {}, {x, dy, w}, text);
    ASSERT_EQ(out.size(), 1u);
    for (int64_t slice = 0; slice < 2; ++slice)
      for (int64_t tap = 0; tap < 6; ++tap) // kh = 0, 1
        EXPECT_TRUE(std::isfinite(out[0].f32()[slice * 9 + tap])) << stride << " " << tap;
  }
}

// Whatever the host: code for a CPU with AVX512_BF16 multiplies with
// vdpbf16ps (GEMM, convolutions), and its P_cpu_supported asks cpuid for
// the feature (leaf 7, subleaf 1).
TEST(Bf16Codegen, CodeForASapphireRapidsUsesVdpbf16psAndChecksTheFeature) {
  for (const std::string &text :
       {matmuls(false, false, {{300, 200}}, "bf16"), convolutions(12, 1, 1, 4, 8)}) {
    Graph g = parsedOrFail(text);
    CompileOptions options;
    options.cpu = "sapphirerapids";
    PassContext ctx;
    PlannedModel planned = planOptimized(g, nullptr, ctx);
    auto assembly = emitText(planned, options, "asm");
    ASSERT_TRUE(assembly.ok()) << assembly.errorText();
    EXPECT_NE(assembly->find("vdpbf16ps"), std::string::npos) << text;
    auto ir = emitText(planned, options, "llvm");
    ASSERT_TRUE(ir.ok()) << ir.errorText();
    size_t check = ir->find("@m_cpu_supported() ");
    ASSERT_NE(check, std::string::npos);
    std::string body = ir->substr(check, ir->find("\n}", check) - check);
    EXPECT_NE(body.find("i32 7, i32 1"), std::string::npos) << body;
  }
}

TEST(Bf16MatMul, FusedMatMulWithBiasAndActivation) {
  SKIP_WITHOUT_BF16();
  expectJitMatchesInterpreter(R"(model m {
  dim B
  input x: f32[B, 300]
  input w: f32[300, 70]
  input b: f32[70]
  y = fused_matmul(x, w, b, activation=relu, precision=bf16)
  output y
}
)",
                              {1, 64});
}

/// A training step with every matmul and convolution in bf16: one step of
/// the JIT against the interpreter on the same (fused) graph, each param
/// and state within `tolerance` of its largest element, then the loss
/// against the f32 step's. A deep network needs a looser tolerance than one
/// product (IR.md section 3): a value the two engines compute one f32 ulp
/// apart may round to neighbouring bf16 values, 2^-8 apart, in the next
/// product, and batch norm's backward amplifies such differences layer by
/// layer (resnet_bn's stem gradient: 0.6% of its largest element).
void expectBf16StepMatches(const std::string &example, const std::vector<Tensor> &inputs,
                           double tolerance) {
  Graph model = loadExample(example);
  PassContext ctx;
  PlanRequest request;
  request.bf16Products = true;
  auto planned = planModel(model, ctx, request);
  ASSERT_TRUE(planned.ok()) << planned.errorText();
  const Graph &step = planned->train->graph;
  ASSERT_NE(firstBf16Node(step), nullptr) << example;
  Interpreter interp(step);
  ASSERT_TRUE(interp.run(inputs).ok());
  double want = interp.value(step.outputs.back().value).at(0);
  interp.applyUpdates();
  auto jit = JitSession::create(*planned);
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  auto loss = (*jit)->trainStep(inputs);
  ASSERT_TRUE(loss.ok()) << loss.errorText();
  EXPECT_NEAR(*loss, want, 1e-4 * std::max(1.0, std::fabs(want))) << example;
  for (const std::string &name : (*jit)->stateNames()) {
    const Tensor &b = interp.value(step.findValue(name));
    EXPECT_LT(relativeError((*jit)->read(name), b), tolerance) << example << ": " << name;
  }
  // The f32 step's loss, within bf16's tolerance.
  PassContext f32ctx;
  auto f32 = planModel(model, f32ctx);
  ASSERT_TRUE(f32.ok());
  Interpreter f32interp(f32->train->graph);
  ASSERT_TRUE(f32interp.run(inputs).ok());
  double f32loss = f32interp.value(f32->train->graph.outputs.back().value).at(0);
  EXPECT_NEAR(want, f32loss, 2e-2 * std::fabs(f32loss)) << example;
}

TEST(Bf16Training, MlpCnnAndResNetStepsMatchTheBf16Interpreter) {
  SKIP_WITHOUT_BF16();
  std::vector<float> pixels(8 * 784);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  Tensor labels = Tensor::i32({8}, std::vector<int32_t>{1, 7, 3, 0, 9, 2, 5, 5});
  expectBf16StepMatches("mlp.ir", {Tensor::f32({8, 784}, pixels), labels}, 1e-5);
  expectBf16StepMatches("cnn.ir", {Tensor::f32({8, 1, 28, 28}, pixels), labels}, 1e-5);
  expectBf16StepMatches("resnet_bn.ir", {Tensor::f32({8, 1, 28, 28}, pixels), labels}, 2e-2);
}

TEST(Bf16Pipeline, TheOptionMarksEveryMatMulAndConvolutionOnly) {
  Graph model = loadExample("cnn.ir");
  PassContext ctx;
  PlanRequest request;
  request.bf16Products = true;
  auto planned = planModel(model, ctx, request);
  ASSERT_TRUE(planned.ok()) << planned.errorText();
  int marked = 0;
  for (const Graph *g : planned->graphs())
    for (const Node &n : g->nodes)
      if (n.info().attrIndex("precision") >= 0) {
        EXPECT_EQ(attr::precision(n), "bf16") << n.info().name;
        ++marked;
      }
  EXPECT_GE(marked, 6); // forward, input and filter gradients of two convolutions, the linear layer
  // Nothing else changes: the graphs print as the f32 plan's but for the attribute.
  PassContext f32ctx;
  auto f32 = planModel(model, f32ctx);
  ASSERT_TRUE(f32.ok());
  for (auto [bf16Graph, f32Graph] : {std::pair{&planned->infer.graph, &f32->infer.graph},
                                     std::pair{&planned->train->graph, &f32->train->graph}}) {
    std::string text = printGraph(*bf16Graph);
    for (size_t at; (at = text.find(", precision=bf16")) != std::string::npos;)
      text.erase(at, 16);
    EXPECT_EQ(text, printGraph(*f32Graph));
  }
}

TEST(Bf16Errors, ACpuWithoutAvx512Bf16IsRefusedByName) {
  CompileOptions options;
  options.cpu = "skylake-avx512";
  options.precision = Precision::BF16;
  auto refused = bf16Products(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.errorText().find("AVX512_BF16"), std::string::npos) << refused.errorText();
  EXPECT_NE(refused.errorText().find("skylake-avx512"), std::string::npos) << refused.errorText();
  options.precision = Precision::Auto;
  auto automatic = bf16Products(options);
  ASSERT_TRUE(automatic.ok());
  EXPECT_FALSE(*automatic);
  options.cpu = "sapphirerapids";
  automatic = bf16Products(options);
  ASSERT_TRUE(automatic.ok());
  EXPECT_TRUE(*automatic);
  options.precision = Precision::F32;
  EXPECT_FALSE(*bf16Products(options));
}

TEST(Bf16Errors, ABf16NodeForACpuWithoutItIsALocatedError) {
  Graph g = parsedOrFail(matmuls(false, false, {{8, 8}}, "bf16"));
  CompileOptions options;
  options.cpu = "skylake-avx512";
  PassContext ctx;
  auto object = compileObject(planOptimized(g, nullptr, ctx), options);
  ASSERT_FALSE(object.ok());
  EXPECT_NE(object.errorText().find("m.ir:5:"), std::string::npos) << object.errorText();
  EXPECT_NE(object.errorText().find("matmul with precision=bf16 needs a CPU with AVX512_BF16"),
            std::string::npos)
      << object.errorText();
}

TEST(Bf16Errors, AnUnknownPrecisionIsALocatedError) {
  Result<Graph> g = parseModel(R"(model m {
  input a: f32[2, 2]
  c = matmul(a, a, precision=f16)
  output c
}
)",
                               "m.ir");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.errorText().find("m.ir:3:"), std::string::npos) << g.errorText();
  EXPECT_NE(g.errorText().find("precision must be f32 or bf16, got 'f16'"), std::string::npos)
      << g.errorText();
}

} // namespace
} // namespace nnc
