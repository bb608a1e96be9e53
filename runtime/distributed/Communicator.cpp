/// Communicator (runtime/distributed/Communicator.h): what does not depend
/// on MPI.
#include "runtime/distributed/Communicator.h"

#include <cstdlib>
#include <vector>

namespace nnc {

bool Communicator::launchedByMpi() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; MPICH's and PMIx's
  // launchers PMI_SIZE and PMIX_RANK.
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name))
      return true;
  return false;
}

Status agree(Communicator &comm, const Status &local) {
  // The lowest failing rank (size: none) wins; its message goes to all.
  int64_t failing = comm.size() - comm.allreduceMax(local ? 0 : comm.size() - comm.rank());
  if (failing == comm.size())
    return Ok{};
  std::string message = comm.rank() == failing ? local.errorText() : std::string();
  int64_t length = static_cast<int64_t>(message.size());
  comm.broadcast(&length, sizeof length, static_cast<int>(failing));
  message.resize(static_cast<size_t>(length));
  comm.broadcast(message.data(), length, static_cast<int>(failing));
  if (comm.rank() == failing)
    return local;
  // One located error, or "error: text" when it has no place.
  if (message.rfind("error: ", 0) == 0)
    message.erase(0, 7);
  while (!message.empty() && message.back() == '\n')
    message.pop_back();
  return Status::fail("rank {}: {}", failing, message);
}

} // namespace nnc
