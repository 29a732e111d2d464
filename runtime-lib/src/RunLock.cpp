//===- RunLock.cpp - One process at a time per run ------------------------===//
//
// This file implements RunLock: flock(2) on the run's `run.lock`, opened
// close-on-exec and without following a symlink. The holder writes its pid
// into the file so that the process that finds the run busy can name it;
// the pid is only informative (the lock itself is the flock).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/RunLock.h"
#include "iterc/rt/Store.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// The pid recorded in an open lock file, or 0.
long recordedPid(int fd) {
  char buf[32] = {0};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  long pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    if (pid < 100000000)
      pid = pid * 10 + (buf[i] - '0');
  return pid;
}

void recordPid(int fd) {
  std::string text = std::to_string(long(::getpid())) + "\n";
  if (::ftruncate(fd, 0) == 0)
    (void)!::pwrite(fd, text.data(), text.size(), 0);
}

} // namespace

RunLock::RunLock(RunLock &&other) noexcept
    : fd(std::exchange(other.fd, -1)), isBusy(other.isBusy),
      holderPid(other.holderPid), failure(std::move(other.failure)) {}

RunLock &RunLock::operator=(RunLock &&other) noexcept {
  if (this != &other) {
    if (fd >= 0)
      ::close(fd);
    fd = std::exchange(other.fd, -1);
    isBusy = other.isBusy;
    holderPid = other.holderPid;
    failure = std::move(other.failure);
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd >= 0)
    ::close(fd); // Releases the flock.
}

RunLock RunLock::acquire(const std::string &storeRoot,
                         const std::string &runId) {
  RunLock lock;
  if (!isSafeStoreName(runId)) {
    lock.failure =
        Error(ErrorCode::InvalidInput, "invalid run id '" + runId + "'");
    return lock;
  }
  std::string dir = storeRoot + "/runs/" + runId;
  if (Status made = makeDirectories(dir); !made) {
    lock.failure = made.error();
    return lock;
  }
  std::string path = dir + "/run.lock";
  int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    lock.failure = Error(ErrorCode::Store,
                         "cannot open " + path + ": " + std::strerror(errno));
    return lock;
  }
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    int err = errno;
    if (err == EWOULDBLOCK) {
      lock.isBusy = true;
      lock.holderPid = recordedPid(fd);
      lock.failure = Error(
          ErrorCode::InvalidInput,
          "run '" + runId + "' is in use by another process" +
              (lock.holderPid > 0
                   ? " (pid " + std::to_string(lock.holderPid) + ")"
                   : std::string()) +
              "; wait for it to end, or stop it, before running it again");
    } else {
      lock.failure = Error(ErrorCode::Store,
                           "cannot lock " + path + ": " + std::strerror(err));
    }
    ::close(fd);
    return lock;
  }
  recordPid(fd);
  lock.fd = fd;
  return lock;
}
