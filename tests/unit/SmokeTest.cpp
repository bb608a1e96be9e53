#include "ir/OpInfo.h"
#include <gtest/gtest.h>
TEST(OpTable, LookupByName) { ASSERT_NE(nnc::findOp("matmul"), nullptr); }
