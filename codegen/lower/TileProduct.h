/// A register-tiled product of small matrices that are already in cache
/// (codegen/lower/TileProduct.cpp), for kernels that multiply tiles inside
/// a task of their own: the attention kernels (codegen/lower/Attention.cpp)
/// multiply a block of query rows by a tile of keys. The blocked GEMM
/// (codegen/lower/Gemm.h) packs its operands and splits into tasks, which
/// does not pay at these sizes (tens of rows and columns).
#pragma once

#include "codegen/Lowering.h"

namespace nnc {

/// A matrix in memory: element (r, c) at base[r * rowStride + c * colStride]
/// (strides in floats).
struct StridedMatrix {
  llvm::Value *base;
  llvm::Value *rowStride;
  llvm::Value *colStride;
};

/// C (m x n) = A (m x k) B (k x n), or C += A B with `accumulate`. B's and
/// C's rows are contiguous (colStride 1); A's layout is free (A^T is A with
/// its strides swapped). Tiles of 4 rows by 2 vectors of columns keep their
/// 8 sums in registers over k; columns past n are masked, never touched.
/// Each element of C is one fmuladd chain over k in order.
void tileProduct(Lowering &l, const StridedMatrix &a, const StridedMatrix &b,
                 const StridedMatrix &c, llvm::Value *m, llvm::Value *n, llvm::Value *k,
                 bool accumulate);

} // namespace nnc
