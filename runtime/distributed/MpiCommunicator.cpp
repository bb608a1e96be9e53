/// The Communicator over MPI (built when CMake finds MPI; else world()
/// says nnc was built without it).
#include "runtime/distributed/Communicator.h"

#ifdef NNC_HAVE_MPI
// The C API only (Open MPI and MPICH would pull in their C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace nnc {

namespace {

/// Chunks of at most INT_MAX elements: MPI counts are ints.
template <typename F> void inChunks(int64_t count, F &&call) {
  for (int64_t done = 0; done < count;) {
    int64_t n = std::min<int64_t>(count - done, INT_MAX);
    call(done, static_cast<int>(n));
    done += n;
  }
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduceSum(float *data, int64_t count) override {
    inChunks(count, [&](int64_t at, int n) {
      MPI_Allreduce(MPI_IN_PLACE, data + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
  }
  int64_t allreduceMax(int64_t value) override {
    int64_t out = 0;
    MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return out;
  }
  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status); // MPI_Abort does not return; if it did, do not wait in MPI_Finalize
  }
  void broadcast(void *data, int64_t bytes, int root) override {
    auto *p = static_cast<char *>(data);
    inChunks(bytes,
             [&](int64_t at, int n) { MPI_Bcast(p + at, n, MPI_BYTE, root, MPI_COMM_WORLD); });
  }

private:
  int rank_ = 0, size_ = 1;
};

void finalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

} // namespace

Result<std::unique_ptr<Communicator>> Communicator::world() {
  using R = Result<std::unique_ptr<Communicator>>;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // A background thread runs the gradients' all-reduces while the main
    // thread computes; their MPI calls never overlap (the main thread
    // waits for the thread before its own).
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      return R::fail("MPI_Init_thread failed");
    if (provided < MPI_THREAD_SERIALIZED)
      return R::fail("this MPI cannot serve collectives from a second thread "
                     "(MPI_THREAD_SERIALIZED)");
    std::atexit(finalizeAtExit);
  }
  return R(std::unique_ptr<Communicator>(new MpiCommunicator()));
}

} // namespace nnc

#else

namespace nnc {

Result<std::unique_ptr<Communicator>> Communicator::world() {
  return Result<std::unique_ptr<Communicator>>::fail(
      "started by mpirun, but this nnc was built without MPI (install libopenmpi-dev: "
      "tools/setup.sh, then rebuild)");
}

} // namespace nnc

#endif
