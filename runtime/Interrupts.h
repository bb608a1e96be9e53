/// SIGINT, SIGTERM and SIGHUP, handled so that nothing is left half-written:
/// temporary files being written are removed, and a loop that asks for it
/// (a training run) is told to stop at its next step instead of dying.
#pragma once

#include <string>

namespace nnc {

/// Installs the handlers (once; later calls do nothing). Until a
/// StopRequests scope is active, a signal removes every registered temporary
/// file and then ends the process as the signal would have.
void installInterruptHandlers();

/// While one exists, a signal only records itself: the owner polls
/// requested() at safe points (between training steps), and a file being
/// written finishes. A second signal during the scope ends the process at
/// once (after removing the temporary files), for a user who insists.
class StopRequests {
public:
  StopRequests();
  ~StopRequests();
  StopRequests(const StopRequests &) = delete;
  StopRequests &operator=(const StopRequests &) = delete;

  /// The signal number received since the scope began, or 0.
  static int requested();
  /// Exit status for a stop by this signal (128 + its number, as a shell
  /// reports a process killed by it).
  static int exitStatus(int signal) { return 128 + signal; }
};

/// Registers a temporary file for removal if the process is interrupted
/// while it exists; unregisters on destruction. At most 32 at once (more
/// are simply not removed on a signal).
/// Whether `path` is a temporary file this process registered and is still
/// writing (so not a leftover of another process that had the same PID).
bool isOwnTempFile(const std::string &path);

class TempFileRegistration {
public:
  explicit TempFileRegistration(const std::string &path);
  ~TempFileRegistration();
  TempFileRegistration(const TempFileRegistration &) = delete;
  TempFileRegistration &operator=(const TempFileRegistration &) = delete;

private:
  int slot_ = -1;
};

} // namespace nnc
