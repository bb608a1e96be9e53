/// bfloat16 rounding for the reference interpreter and the tests: what
/// precision=bf16 does to an operand of a matmul or convolution (IR.md
/// section 3). bf16 is f32's high half: 8 exponent bits, 8 significant bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace nnc {

/// x rounded to the nearest bf16, ties to even, as an f32; a NaN stays a
/// NaN, and a denormal becomes a zero of its sign, as AVX512_BF16's
/// vcvtne2ps2bf16 does; the codegen's software rounding (codegen/lower/
/// Bf16.h) is the same. (vdpbf16ps also flushes denormal sums; this
/// rounding is of the operands only.)
inline float roundToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if (std::isnan(x))
    u = (u & 0xffff0000u) | 0x00400000u;
  else if ((u & 0x7f800000u) == 0)
    u &= 0x80000000u;
  else
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

} // namespace nnc
