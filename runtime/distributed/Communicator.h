/// The processes of a data-parallel run and the collectives they share
/// (DESIGN.md, "Data parallelism"): what nnc's trainer needs from MPI, and
/// nothing of MPI's own types, so that the rest of nnc builds without it.
#pragma once

#include "ir/Result.h"

#include <cstdint>
#include <memory>
#include <string>

namespace nnc {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// Sums `count` floats across all processes, in place; every process
  /// gets the same bits.
  virtual void allreduceSum(float *data, int64_t count) = 0;
  /// The largest of each process's `value`.
  virtual int64_t allreduceMax(int64_t value) = 0;
  /// `bytes` bytes from `root` to every process.
  virtual void broadcast(void *data, int64_t bytes, int root) = 0;
  /// Ends every process of the run with `status`: for a failure only this
  /// process met, while the others may be waiting in a collective.
  [[noreturn]] virtual void abort(int status) = 0;

  /// Whether this process was started by mpirun or mpiexec (the
  /// environment says so), whether or not nnc was built with MPI.
  static bool launchedByMpi();
  /// The processes mpirun started (MPI_COMM_WORLD), MPI initialized for a
  /// background thread's collectives; an error when nnc was built without
  /// MPI. Lives until the process ends (MPI is finalized at exit).
  static Result<std::unique_ptr<Communicator>> world();
};

/// A status agreed by every process: the first failing rank's error (its
/// message, prefixed "rank R: " on the others), or Ok on all of them. Every
/// process must call it at the same point.
Status agree(Communicator &comm, const Status &local);

} // namespace nnc
