//===- RunLock.h - One process at a time per run ----------------*- C++ -*-===//
//
// This file declares the lock that keeps two processes from running or
// resuming the same run of a file store at once (each would make the calls
// after the interruption again and interleave its events with the other's).
// It is an exclusive flock(2) on `<root>/runs/<run-id>/run.lock`, taken
// without waiting and held until the RunLock is destroyed or the process
// ends: a killed process releases it with its descriptors.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_RUNLOCK_H
#define ITERC_RT_RUNLOCK_H

#include "iterc/rt/Core.h"

#include <optional>
#include <string>

namespace iterc::rt {

class RunLock {
public:
  RunLock() = default;
  RunLock(RunLock &&other) noexcept;
  RunLock &operator=(RunLock &&other) noexcept;
  RunLock(const RunLock &) = delete;
  RunLock &operator=(const RunLock &) = delete;
  ~RunLock();

  /// Locks the run `runId` of the store at `storeRoot`, creating the run's
  /// directory when needed. Never waits.
  static RunLock acquire(const std::string &storeRoot,
                         const std::string &runId);

  bool held() const { return fd >= 0; }
  /// Another process holds the lock.
  bool busy() const { return isBusy; }
  /// The pid the holder recorded in the lock file (0 when unknown).
  long holder() const { return holderPid; }
  /// Why the lock could not be taken: the run is busy, or the lock file
  /// could not be opened.
  const std::optional<Error> &error() const { return failure; }

private:
  int fd = -1;
  bool isBusy = false;
  long holderPid = 0;
  std::optional<Error> failure;
};

} // namespace iterc::rt

#endif // ITERC_RT_RUNLOCK_H
