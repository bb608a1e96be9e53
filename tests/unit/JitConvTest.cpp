/// The JIT against the reference interpreter, for the Conv family: conv2d,
/// maxpool2d, avgpool2d and their gradient ops.
#include "InterpTestUtil.h"

#include "tests/unit/JitTestUtil.h"
#include "codegen/Compiler.h"
#include "frontend/Parser.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace nnc {
namespace {

using namespace jittest;

/// The output extent of a window (as the shape rule computes it).
int64_t outExtent(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

std::string pairText(int64_t a, int64_t b) {
  return a == b ? std::to_string(a) : "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

/// conv2d with and without bias, fused_conv2d with relu (with bias) and
/// leaky_relu (without), and both gradient ops, for one geometry, over x
/// f32[B, channels, h, w], at batch 1, 3 and 64.
void checkConv(int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
               int64_t ph, int64_t pw, int64_t h = 12, int64_t w = 11) {
  int64_t oh = outExtent(h, kh, sh, ph), ow = outExtent(w, kw, sw, pw);
  auto dims = [](std::vector<int64_t> v) {
    std::string s;
    for (int64_t d : v)
      s += ", " + std::to_string(d);
    return s;
  };
  std::string attrs = ", stride=" + pairText(sh, sw) + ", padding=" + pairText(ph, pw) + ")";
  std::string text = "model m {\n dim B\n input x: f32[B" + dims({channels, h, w}) +
                     "]\n input w: f32[" + dims({filters, channels, kh, kw}).substr(2) +
                     "]\n input bias: f32[" + std::to_string(filters) + "]\n input dy: f32[B" +
                     dims({filters, oh, ow}) + "]\n" + " y = conv2d(x, w, bias" + attrs + "\n" +
                     " z = conv2d(x, w" + attrs + "\n" + " gx = conv2d_grad_input(dy, w, x" +
                     attrs + "\n" + " gw = conv2d_grad_filter(x, dy, w" + attrs + "\n" +
                     " r = fused_conv2d(x, w, bias, activation=relu" + attrs + "\n" +
                     " lr = fused_conv2d(x, w, activation=leaky_relu, alpha=0.2" + attrs +
                     "\n output y, z, gx, gw, r, lr\n}\n";
  expectJitMatchesInterpreter(text, {1, 3, 64});
}

/// Every stride and padding of the brief, for one kernel.
void checkConvKernel(int64_t k) {
  const std::pair<int64_t, int64_t> strides[] = {{1, 1}, {2, 2}, {2, 1}};
  const std::pair<int64_t, int64_t> pads[] = {{0, 0}, {1, 1}, {1, 2}};
  const std::pair<int64_t, int64_t> channels[] = {{1, 16}, {3, 4}};
  for (auto [c, f] : channels)
    for (auto [sh, sw] : strides)
      for (auto [ph, pw] : pads) {
        checkConv(c, f, k, k, sh, sw, ph, pw);
        if (::testing::Test::HasFailure())
          return;
      }
}

TEST(JitConv, Conv2dAndGradientsKernel1x1) { checkConvKernel(1); }
TEST(JitConv, Conv2dAndGradientsKernel3x3) { checkConvKernel(3); }
TEST(JitConv, Conv2dAndGradientsKernel7x7) { checkConvKernel(7); }

TEST(JitConv, Conv2dAndGradientsNonSquareKernel) {
  checkConv(3, 4, 3, 5, 2, 1, 1, 2);
  checkConv(2, 5, 5, 2, 1, 2, 2, 0);
  // Padding wider than the kernel reaches: whole output rows read only zeros.
  checkConv(1, 2, 2, 2, 1, 1, 3, 2);
}

/// Width strides up to the tiled kernels' widest (4, column phases) and past
/// it (5, the plain nests), a stride-4 "patchify" conv among them, and a
/// window narrower than its stride; planes wider than a vector, so a row
/// has whole vectors and a tail.
TEST(JitConv, Conv2dAndGradientsWideStrides) {
  checkConv(2, 5, 3, 3, 3, 3, 1, 1, 13, 40);
  checkConv(3, 4, 4, 4, 4, 4, 0, 0, 16, 72);
  checkConv(2, 3, 3, 3, 1, 4, 1, 1, 9, 70);
  checkConv(2, 3, 5, 5, 5, 5, 2, 2, 11, 90);
  // A window narrower than its stride: rows and column phases no tap reads.
  checkConv(2, 3, 2, 2, 3, 3, 1, 1, 14, 40);
}

/// Windows of one or two taps, whose filter gradient takes several input
/// channels per task (their (channel, tap) sums share each dy load): 8
/// channels 4 at a time, 6 two at a time, a 1x2 window two at a time.
TEST(JitConv, FilterGradientOfFewTapsTakesSeveralChannels) {
  checkConv(8, 5, 1, 1, 1, 1, 0, 0);
  checkConv(6, 3, 1, 1, 2, 2, 0, 0, 14, 28);
  checkConv(4, 3, 1, 2, 1, 1, 0, 1);
}

/// The input gradient of strides 2 and 3 over dy planes so large that the
/// correlation kernel takes the filters in several groups (its partial
/// sums, stored as interleaved column phases, are loaded and split into
/// phases again), with rows of whole blocks of phases and a tail of one or
/// more columns.
TEST(JitConv, StridedInputGradientOverSeveralChannelGroups) {
  checkConv(2, 9, 3, 3, 2, 2, 1, 1, 80, 81);
  checkConv(2, 7, 3, 3, 3, 3, 1, 1, 90, 100);
}

/// Rows so wide that conv2d_grad_filter sums one tap at a time (its partial
/// sums of every tap would not fit its stack buffer).
TEST(JitConv, Conv2dAndGradientsWideRows) { checkConv(1, 2, 7, 7, 1, 1, 0, 1, 8, 339); }

/// fused_conv2d with every activation on 10 channels of 40x40: their padded
/// planes (42x42) fill more than one group of the correlation kernel's
/// buffer (9 planes), so the activation waits for the last group (few
/// channels: the sums' f32 rounding stays within the bounded activations'
/// tolerance); and a width stride
/// of 5 (the plain nest).
TEST(JitConv, FusedConv2dAppliesItsActivationOnceTheSumsAreDone) {
  for (const char *act : {"relu", "leaky_relu", "sigmoid", "tanh", "gelu"}) {
    SCOPED_TRACE(act);
    std::string a = std::string(", activation=") + act + ", padding=1";
    std::string text = "model m {\n dim B\n input x: f32[B, 10, 40, 40]\n"
                       " input w: f32[2, 10, 3, 3]\n input bias: f32[2]\n"
                       " input v: f32[B, 1, 6, 40]\n input u: f32[2, 1, 3, 3]\n"
                       " y = fused_conv2d(x, w, bias" +
                       a +
                       ")\n"
                       " z = fused_conv2d(v, u" +
                       a + ", stride=[1, 5])\n output y, z\n}\n";
    expectJitMatchesInterpreter(text, {1, 2});
  }
}

/// In the interpreter, fused_conv2d is its activation of conv2d, bit for bit.
TEST(JitConv, FusedConv2dIsTheActivationOfConv2dInTheInterpreter) {
  std::string text = "model m {\n input x: f32[2, 3, 6, 6]\n input w: f32[4, 3, 3, 3]\n"
                     " input bias: f32[4]\n a = relu(conv2d(x, w, bias, stride=2, padding=1))\n"
                     " b = fused_conv2d(x, w, bias, stride=2, padding=1, activation=relu)\n"
                     " output a, b\n}\n";
  Result<Graph> g = parseModel(text, "m.ir");
  ASSERT_TRUE(g.ok()) << g.errorText();
  Tensor x(DType::F32, {2, 3, 6, 6}), w(DType::F32, {4, 3, 3, 3}), bias(DType::F32, {4});
  fillUniform(x.f32(), x.numel(), -1, 1, 3);
  fillUniform(w.f32(), w.numel(), -1, 1, 4);
  fillUniform(bias.f32(), bias.numel(), -1, 1, 5);
  Interpreter interp(*g);
  ASSERT_TRUE(interp.run({x, w, bias}).ok());
  const Tensor &a = interp.value(g->outputs[0].value), &b = interp.value(g->outputs[1].value);
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(a.f32()[i], b.f32()[i]) << i;
}

/// The pools and their gradients over x f32[B, 3, 7, 9] for one kernel and
/// stride (0: absent, i.e. the kernel).
void checkPools(int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
  const int64_t h = 7, w = 9;
  int64_t strideH = sh ? sh : kh, strideW = sw ? sw : kw;
  int64_t oh = outExtent(h, kh, strideH, 0), ow = outExtent(w, kw, strideW, 0);
  std::string attrs =
      ", kernel=" + pairText(kh, kw) + (sh ? ", stride=" + pairText(sh, sw) : "") + ")";
  std::string dy = "f32[B, 3, " + std::to_string(oh) + ", " + std::to_string(ow) + "]";
  std::string text = "model m {\n dim B\n input x: f32[B, 3, 7, 9]\n input dm: " + dy +
                     "\n input da: " + dy + "\n" + " m = maxpool2d(x" + attrs + "\n" +
                     " a = avgpool2d(x" + attrs + "\n" + " gm = maxpool2d_grad(x, dm" + attrs +
                     "\n" + " ga = avgpool2d_grad(x, da" + attrs + "\n" +
                     " output m, a, gm, ga\n}\n";
  expectJitMatchesInterpreter(text, {1, 3, 64});
}

TEST(JitConv, PoolsAndGradientsMatchTheInterpreter) {
  checkPools(2, 2, 2, 2);
  checkPools(2, 2, 0, 0);
  checkPools(3, 3, 1, 1);
  checkPools(2, 3, 0, 0);
  checkPools(3, 2, 1, 2);
}

/// Compiles `text` (static shapes) and compares with the interpreter on
/// the given inputs.
std::vector<Tensor> expectJitMatchesOn(const std::string &text, const std::vector<Tensor> &inputs) {
  Result<Graph> g = parseModel(text, "m.ir");
  EXPECT_TRUE(g.ok()) << g.errorText();
  if (!g.ok())
    return {};
  auto jit = jitCompile(*g, nullptr, {});
  EXPECT_TRUE(jit.ok()) << jit.errorText();
  if (!jit.ok())
    return {};
  return expectSame(*g, (*jit)->functions(), {}, inputs, text);
}

/// A pool's x of whole numbers 0, 1 and 2 (many ties) and its dy in [-2, 2).
void fillWithTies(Tensor &x, Tensor &dy) {
  fillUniform(dy.f32(), dy.numel(), -2, 2, 7);
  fillUniform(x.f32(), x.numel(), 0, 3, 8);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.f32()[i] = std::floor(x.f32()[i]);
}

/// Ties go to the first maximum of each window in row-major order, NaN is
/// the maximum (the first NaN keeps it), and overlapping windows add up.
TEST(JitConv, MaxPoolGradientTiesAndNaN) {
  const std::string text = "model m {\n input x: f32[2, 2, 6, 7]\n input dy: f32[2, 2, 4, 5]\n"
                           " y = maxpool2d(x, kernel=3, stride=1)\n"
                           " g = maxpool2d_grad(x, dy, kernel=3, stride=1)\n"
                           " output y, g\n}\n";
  Tensor x(DType::F32, {2, 2, 6, 7}), dy(DType::F32, {2, 2, 4, 5});
  fillWithTies(x, dy);
  expectJitMatchesOn(text, {x, dy});
  float nan = std::numeric_limits<float>::quiet_NaN();
  x.f32()[3] = nan;
  x.f32()[4] = nan;
  x.f32()[2 * 7 + 1] = nan;
  x.f32()[42 + 20] = -std::numeric_limits<float>::infinity();
  for (int64_t i = 84; i < 84 + 42; ++i)
    x.f32()[i] = -std::numeric_limits<float>::infinity(); // windows of -inf only
  expectJitMatchesOn(text, {x, dy});
}

/// The same for windows that tile the plane (kernel = stride), the pools'
/// one-pass kernels: rows of 32 and 33 windows (whole vectors and a tail)
/// and a last row and column that no window covers (their gradient is 0).
TEST(JitConv, TiledMaxPoolGradientTiesAndNaN) {
  for (int64_t w : {64, 67}) {
    std::string ow = std::to_string(w / 2), ws = std::to_string(w);
    std::string text = "model m {\n input x: f32[2, 2, 5, " + ws + "]\n input dy: f32[2, 2, 2, " +
                       ow + "]\n y = maxpool2d(x, kernel=2)\n a = avgpool2d(x, kernel=2)\n" +
                       " g = maxpool2d_grad(x, dy, kernel=2)\n" +
                       " ga = avgpool2d_grad(x, dy, kernel=2)\n output y, a, g, ga\n}\n";
    Tensor x(DType::F32, {2, 2, 5, w}), dy(DType::F32, {2, 2, 2, w / 2});
    fillWithTies(x, dy);
    expectJitMatchesOn(text, {x, dy});
    float nan = std::numeric_limits<float>::quiet_NaN();
    x.f32()[3] = nan;
    x.f32()[w + 2] = nan;
    x.f32()[w + 3] = nan; // three NaNs in window (0, 1): the first keeps it
    for (int64_t i = 5 * w; i < 7 * w; ++i)
      x.f32()[i] = -std::numeric_limits<float>::infinity(); // windows of -inf only
    expectJitMatchesOn(text, {x, dy});
  }
}

/// An infinity in x reaches only the filter taps that read it: the lanes of
/// a row's last vector past its end (which would read the next row's first
/// x, here the infinity) must add nothing, not 0 * inf = NaN, at width
/// strides 1 and 2.
TEST(JitConv, FilterGradientTailIgnoresInfinityOfTheNextRow) {
  for (int64_t sw : {1, 2}) {
    int64_t ow = (21 - 3) / sw + 1;
    std::string text = "model m {\n input x: f32[2, 1, 4, 21]\n input dy: f32[2, 2, 2, " +
                       std::to_string(ow) + "]\n input w: f32[2, 1, 3, 3]\n" +
                       " g = conv2d_grad_filter(x, dy, w, stride=[1, " + std::to_string(sw) +
                       "])\n output g\n}\n";
    Tensor x(DType::F32, {2, 1, 4, 21}), dy(DType::F32, {2, 2, 2, ow}), w(DType::F32, {2, 1, 3, 3});
    fillUniform(x.f32(), x.numel(), -1, 1, 3);
    fillUniform(dy.f32(), dy.numel(), -1, 1, 4);
    fillUniform(w.f32(), w.numel(), -1, 1, 5);
    x.f32()[2 * 21] = std::numeric_limits<float>::infinity(); // image 0, row 2, column 0
    std::vector<Tensor> out = expectJitMatchesOn(text, {x, dy, w});
    ASSERT_EQ(out.size(), 1u);
    // Taps of column 2 never read column 0: finite.
    for (int64_t slice = 0; slice < 2; ++slice)
      for (int64_t kh = 0; kh < 3; ++kh)
        EXPECT_TRUE(std::isfinite(out[0].f32()[slice * 9 + kh * 3 + 2])) << "sw " << sw;
  }
}

/// The course's worked example: a 7x7 filter with 30 along a curve, over an
/// image with 50 on the curve but for one 20 (and one curve pixel dark),
/// answers 4 * 50 * 30 + 20 * 30 = 6600 where it lies, and less elsewhere.
TEST(JitConv, CourseCurveDetectorGives6600) {
  // clang-format off
  const int curve[7][7] = {{0, 0, 0,  0,  0, 30, 0},
                           {0, 0, 0,  0, 30,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0, 30,  0,  0, 0},
                           {0, 0, 0,  0,  0,  0, 0}};
  // clang-format on
  std::vector<double> filter;
  for (const auto &row : curve)
    for (int v : row)
      filter.push_back(v);
  std::vector<float> image(14 * 14, 0.0f);
  auto pixel = [&](int r, int c) -> float & { return image[(2 + r) * 14 + (3 + c)]; };
  pixel(0, 5) = 50;
  pixel(1, 4) = 50;
  pixel(2, 3) = 50;
  pixel(3, 3) = 20;
  pixel(4, 3) = 50;
  test::ModelBuilder m;
  ValueId x = m.input("image", test::staticShape({1, 1, 14, 14}));
  ValueId w = m.constant("filter", test::staticShape({1, 1, 7, 7}), filter);
  m.output(m.op(OpKind::Conv2d, {x, w}));
  Graph g = m.finish();
  auto jit = jitCompile(g, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  std::vector<Tensor> outs =
      expectSame(g, (*jit)->functions(), {}, {test::f32({1, 1, 14, 14}, image)}, "curve detector");
  ASSERT_EQ(outs.size(), 1u);
  ASSERT_EQ(outs[0].shape(), (std::vector<int64_t>{1, 1, 8, 8}));
  EXPECT_EQ(outs[0].f32()[2 * 8 + 3], 6600.0f);
  EXPECT_EQ(outs[0].f32()[7 * 8 + 7], 0.0f);
  for (int64_t i = 0; i < outs[0].numel(); ++i)
    EXPECT_LE(outs[0].f32()[i], 6600.0f);
}

// Many blocks of output channels for few images: 130 channels are 33
// blocks of 4, which batch 1 cut into 8 parts of 5 (the last would have
// started at block 35): every task must stay inside the output (it wrote
// ten planes past it) and the input gradient's (eleven).
TEST(JitConv, ManyChannelBlocksAtBatchOneStayInsideTheirOutputs) {
  Graph g = parsedOrFail("model g {\n dim B\n input x: f32[B, 9, 6, 6]\n"
                         " input w: f32[130, 9, 3, 3]\n input dy: f32[B, 130, 6, 6]\n"
                         " y = conv2d(x, w, padding=1)\n"
                         " dx = conv2d_grad_input(dy, w, x, padding=1)\n output y, dx\n}\n");
  auto jit = jitCompile(g, nullptr, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText();
  const ModelFunctions &f = (*jit)->functions();
  int64_t dims[1] = {1};
  std::vector<Tensor> inputs = randomInputs(g, {1});
  AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(dims));
  ASSERT_EQ(f.init(state.p), 0);
  // Each output with as many floats again after it, all a sentinel.
  const float sentinel = 12345.0f;
  std::vector<std::vector<float>> outs = {std::vector<float>(2 * 130 * 36, sentinel),
                                          std::vector<float>(2 * 9 * 36, sentinel)};
  std::vector<const void *> in;
  for (const Tensor &t : inputs)
    in.push_back(t.data());
  void *out[2] = {outs[0].data(), outs[1].data()};
  ASSERT_EQ(f.infer(state.p, workspace.p, dims, in.data(), out), 0);
  for (size_t k = 0; k < outs.size(); ++k)
    for (size_t i = outs[k].size() / 2; i < outs[k].size(); ++i)
      ASSERT_EQ(outs[k][i], sentinel) << "output " << k << " written at " << i;
  expectSame(g, f, {1}, inputs, "130 channels, batch 1");
}

} // namespace
} // namespace nnc
