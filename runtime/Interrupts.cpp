/// Signal handling for interrupted runs and half-written files. Everything
/// the handler touches is a lock-free atomic or a fixed buffer, and it calls
/// only async-signal-safe functions (unlink, signal, raise).
#include "runtime/Interrupts.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace nnc {

namespace {

constexpr int kSlots = 32;
constexpr size_t kPathBytes = 4096;

/// Temporary files being written: a slot's path is valid while its flag is 2
/// (1: being filled in or emptied).
std::atomic<int> slotState[kSlots];
char slotPath[kSlots][kPathBytes];

std::atomic<int> stopScopes{0};
std::atomic<int> stopSignal{0};

void removeTempFiles() {
  for (int i = 0; i < kSlots; ++i)
    if (slotState[i].load() == 2)
      ::unlink(slotPath[i]);
}

void dieBySignal(int signal) {
  removeTempFiles();
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

extern "C" void onInterrupt(int signal) {
  if (stopScopes.load() > 0 && stopSignal.load() == 0) {
    stopSignal.store(signal);
    return;
  }
  dieBySignal(signal);
}

} // namespace

void installInterruptHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_handler = onInterrupt;
    // Restart interrupted reads and writes: a training run stops at its next
    // step, not with EINTR from a write to a pipe or a terminal.
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGINT, SIGTERM, SIGHUP})
      sigaction(signal, &action, nullptr);
  });
}

StopRequests::StopRequests() {
  stopSignal.store(0);
  stopScopes.fetch_add(1);
}

StopRequests::~StopRequests() { stopScopes.fetch_sub(1); }

int StopRequests::requested() { return stopSignal.load(); }

bool isOwnTempFile(const std::string &path) {
  for (int i = 0; i < kSlots; ++i)
    if (slotState[i].load() == 2 && path == slotPath[i])
      return true;
  return false;
}

TempFileRegistration::TempFileRegistration(const std::string &path) {
  if (path.size() >= kPathBytes)
    return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (slotState[i].compare_exchange_strong(expected, 1)) {
      std::memcpy(slotPath[i], path.c_str(), path.size() + 1);
      slotState[i].store(2);
      slot_ = i;
      return;
    }
  }
}

TempFileRegistration::~TempFileRegistration() {
  if (slot_ >= 0)
    slotState[slot_].store(0);
}

} // namespace nnc
