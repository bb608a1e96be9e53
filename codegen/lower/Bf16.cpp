/// bfloat16 conversions and products (codegen/lower/Bf16.h).
#include "codegen/lower/Bf16.h"

#include "ir/InternalError.h"

#include <llvm/IR/IntrinsicsX86.h>

namespace nnc {

llvm::Type *bf16Pairs(Lowering &l) {
  return llvm::FixedVectorType::get(llvm::Type::getBFloatTy(l.ctx), 32);
}

llvm::Value *roundToBf16(Lowering &l, llvm::Value *x) {
  auto &b = l.b;
  llvm::Type *bits = l.i32;
  if (auto *v = llvm::dyn_cast<llvm::FixedVectorType>(x->getType()))
    bits = llvm::FixedVectorType::get(l.i32, v->getNumElements());
  auto k = [&](uint32_t c) { return llvm::ConstantInt::get(bits, c); };
  // Ties to even: add 0x7fff plus the lowest kept bit, then drop 16 bits.
  llvm::Value *u = b.CreateBitCast(x, bits);
  llvm::Value *lsb = b.CreateAnd(b.CreateLShr(u, k(16)), k(1));
  llvm::Value *rounded = b.CreateAnd(b.CreateAdd(u, b.CreateAdd(k(0x7fff), lsb)), k(0xffff0000u));
  // A NaN would carry into the exponent or wrap: keep it a quiet NaN. A
  // denormal becomes a zero of its sign (vcvtne2ps2bf16's rule).
  llvm::Value *nan = b.CreateOr(b.CreateAnd(u, k(0xffff0000u)), k(0x00400000u));
  llvm::Value *isNan = b.CreateFCmpUNO(x, x);
  llvm::Value *denormal = b.CreateICmpEQ(b.CreateAnd(u, k(0x7f800000u)), k(0));
  rounded = b.CreateSelect(denormal, b.CreateAnd(u, k(0x80000000u)), rounded);
  return b.CreateBitCast(b.CreateSelect(isNan, nan, rounded), x->getType());
}

llvm::Value *bf16Consecutive(Lowering &l, llvm::Value *lo, llvm::Value *hi) {
  unsigned lanes = llvm::cast<llvm::FixedVectorType>(lo->getType())->getNumElements();
  llvm::Intrinsic::ID id = lanes == 16  ? llvm::Intrinsic::x86_avx512bf16_cvtne2ps2bf16_512
                           : lanes == 8 ? llvm::Intrinsic::x86_avx512bf16_cvtne2ps2bf16_256
                                        : llvm::Intrinsic::x86_avx512bf16_cvtne2ps2bf16_128;
  // The instruction's first source fills the high half.
  return l.b.CreateIntrinsic(id, {}, {hi, lo});
}

llvm::Value *bf16Interleaved(Lowering &l, llvm::Value *row0, llvm::Value *row1) {
  int lanes =
      static_cast<int>(llvm::cast<llvm::FixedVectorType>(row0->getType())->getNumElements());
  std::vector<int> order;
  for (int j = 0; j < lanes; ++j) {
    order.push_back(j);
    order.push_back(lanes + j);
  }
  return l.b.CreateShuffleVector(bf16Consecutive(l, row0, row1), order);
}

llvm::Value *dotBf16Pairs(Lowering &l, llvm::Value *acc, llvm::Value *a, llvm::Value *b) {
  unsigned lanes = llvm::cast<llvm::FixedVectorType>(acc->getType())->getNumElements();
  auto *pairs = llvm::FixedVectorType::get(llvm::Type::getBFloatTy(l.ctx), 2 * lanes);
  a = l.b.CreateBitCast(a, pairs);
  b = l.b.CreateBitCast(b, pairs);
  llvm::Intrinsic::ID id = lanes == 16  ? llvm::Intrinsic::x86_avx512bf16_dpbf16ps_512
                           : lanes == 8 ? llvm::Intrinsic::x86_avx512bf16_dpbf16ps_256
                                        : llvm::Intrinsic::x86_avx512bf16_dpbf16ps_128;
  return l.b.CreateIntrinsic(id, {}, {acc, a, b});
}

llvm::Value *bf16PairBits(Lowering &l, llvm::Value *x0, llvm::Value *x1) {
  auto &b = l.b;
  llvm::Type *bits = l.i32;
  if (auto *v = llvm::dyn_cast<llvm::FixedVectorType>(x0->getType()))
    bits = llvm::FixedVectorType::get(l.i32, v->getNumElements());
  auto k = [&](uint32_t c) { return llvm::ConstantInt::get(bits, c); };
  llvm::Value *lo = b.CreateLShr(b.CreateBitCast(roundToBf16(l, x0), bits), k(16));
  llvm::Value *hi = b.CreateAnd(b.CreateBitCast(roundToBf16(l, x1), bits), k(0xffff0000u));
  return b.CreateOr(lo, hi);
}

llvm::Value *broadcastBf16Pair(Lowering &l, llvm::Value *p) {
  llvm::Value *pair = l.b.CreateAlignedLoad(l.i32, p, llvm::Align(4));
  return l.b.CreateBitCast(l.b.CreateVectorSplat(16, pair), bf16Pairs(l));
}

} // namespace nnc
