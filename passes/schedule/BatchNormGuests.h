/// Horizontal fusion of a batch norm's per-channel passes: the nodes that
/// reduce the same x (and dy) over every axis but the channels share one
/// pass over them, in the kernel of the node that needs the most sums.
///
///   guest                                       host
///   batchnorm_running_mean(x, rm),              batchnorm_train(x, gamma, beta)
///     batchnorm_running_var(x, rv)                (its mean and variance)
///   batchnorm_gamma_grad(x, dy),                batchnorm_grad(x, gamma, dy)
///     sum(dy, every axis but 1) (beta's)          (its one pass has all four sums)
///   sum(dy, every axis but 1)                   batchnorm_gamma_grad(x, dy), when
///                                                 no batchnorm_grad hosts it
///
/// So a batch norm costs two passes forward (statistics, normalization) and
/// two backward (sums, dx), whatever its params need. A guest is hosted only
/// when every reader of its result comes after the host; a host takes one
/// guest of each op.
#pragma once

#include "passes/schedule/KernelSchedule.h"

namespace nnc {

/// Adds the batch-norm guests of `g` to `s`.
void scheduleBatchNormGuests(const Graph &g, KernelSchedule &s);

/// Whether `sum` is sum(x, axes = every axis but 1) of an x of rank 2 or
/// more: the per-channel sum of a batch norm's dy (beta's gradient).
bool isChannelSum(const Graph &g, const Node &sum);

} // namespace nnc
