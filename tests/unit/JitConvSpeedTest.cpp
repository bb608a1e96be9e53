/// The JIT against the reference interpreter for the shapes that steer the
/// direct conv2d kernel's tiling (codegen/lower/Conv.cpp): output widths
/// that are whole vectors (16, 32), an odd number of them (48), a vector and
/// a tail (28, the benchmark's 28x28 images), channel counts the block of
/// output channels does not divide, and odd row counts. No timing here.
#include "tests/unit/JitTestUtil.h"

#include <gtest/gtest.h>

#include <string>

namespace nnc {
namespace {

using namespace jittest;

/// conv2d with and without bias and both gradient ops over
/// x f32[B, c, h, w] with f filters of 3x3, stride [sh, 1], padding 1.
void checkConv3x3(int64_t c, int64_t f, int64_t h, int64_t w, int64_t sh,
                  std::vector<int64_t> batches = {1, 3}) {
  auto s = [](int64_t v) { return std::to_string(v); };
  int64_t oh = (h + 2 - 3) / sh + 1, ow = w;
  std::string attrs = ", stride=[" + s(sh) + ", 1], padding=1)\n";
  std::string text = "model m {\n dim B\n input x: f32[B, " + s(c) + ", " + s(h) + ", " + s(w) +
                     "]\n input w: f32[" + s(f) + ", " + s(c) + ", 3, 3]\n input bias: f32[" +
                     s(f) + "]\n input dy: f32[B, " + s(f) + ", " + s(oh) + ", " + s(ow) +
                     "]\n y = conv2d(x, w, bias" + attrs + " z = conv2d(x, w" + attrs +
                     " gx = conv2d_grad_input(dy, w, x" + attrs +
                     " gw = conv2d_grad_filter(x, dy, w" + attrs + " output y, z, gx, gw\n}\n";
  SCOPED_TRACE(text);
  expectJitMatchesInterpreter(text, batches);
}

TEST(JitConvDirect, BenchmarkShape) { checkConv3x3(1, 16, 28, 28, 1, {1, 3, 64}); }
TEST(JitConvDirect, WholeVectorWidths) {
  checkConv3x3(2, 6, 9, 16, 1);
  checkConv3x3(2, 6, 9, 32, 1);
  checkConv3x3(3, 5, 7, 48, 1);
}
TEST(JitConvDirect, RowStrideAndOddRows) {
  checkConv3x3(2, 7, 11, 28, 2);
  checkConv3x3(1, 9, 5, 17, 1);
}

} // namespace
} // namespace nnc
