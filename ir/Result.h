/// nnc::Result (include/nnc/Result.h) as nnc's own sources use it, with the
/// {fmt} formatting of Result::fail and Result::failAt (ir/Diagnostics.h).
#pragma once

#include "ir/Diagnostics.h"
#include "nnc/Result.h"
