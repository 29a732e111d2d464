//===- ServiceLog.cpp - A local service's output, capped and rotated ------===//
//
// This file implements ServiceLog.h: a copying thread between the service's
// pipe and its log files. A write error (a full disk) drops output rather
// than blocking the service on a pipe nobody reads.
//
//===----------------------------------------------------------------------===//
#include "ServiceLog.h"

#include "StackCommon.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

constexpr uint64_t kDefaultCap = 8ull << 20;
constexpr uint64_t kMinimumCap = 4096;

int openLogFile(const std::string &path) {
  // The log lives in the workspace, where a tool could plant a symlink.
  return ::open(path.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
}

} // namespace

uint64_t iterc::rt::serviceLogCap() {
  const char *env = std::getenv("ITERC_SERVICE_LOG_BYTES");
  if (!env || !*env || std::strspn(env, "0123456789") != std::strlen(env) ||
      std::strlen(env) > 18)
    return kDefaultCap;
  uint64_t cap = std::strtoull(env, nullptr, 10);
  return cap < kMinimumCap ? kDefaultCap : cap;
}

Expected<std::unique_ptr<ServiceLog>>
iterc::rt::ServiceLog::open(const std::string &path, uint64_t cap) {
  ::unlink((path + ".1").c_str());
  int file = openLogFile(path);
  if (file < 0)
    return Error(ErrorCode::Store, std::strerror(errno));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    int saved = errno;
    ::close(file);
    return Error(ErrorCode::Tool, std::strerror(saved));
  }
  return std::unique_ptr<ServiceLog>(
      new ServiceLog(path, std::max(cap, kMinimumCap), fds[0], fds[1], file));
}

iterc::rt::ServiceLog::~ServiceLog() {
  finish();
  if (writeEnd >= 0)
    ::close(writeEnd);
  if (readEnd >= 0)
    ::close(readEnd);
  if (file >= 0)
    ::close(file);
}

void iterc::rt::ServiceLog::start() {
  ::close(writeEnd);
  writeEnd = -1;
  thread = std::thread([this] { pump(); });
}

void iterc::rt::ServiceLog::finish() {
  stopping = true;
  if (thread.joinable())
    thread.join();
}

void iterc::rt::ServiceLog::settle() {
  for (int i = 0; i < 50 && thread.joinable(); ++i) {
    int pending = 0;
    if (::ioctl(readEnd, FIONREAD, &pending) != 0 ||
        (pending == 0 && !busy))
      return;
    ::usleep(2000);
  }
}

void iterc::rt::ServiceLog::pump() {
  char buffer[65536];
  int drains = 0; // once stopping: at most 4 MiB more (a writer that escaped)
  while (!stopping || drains++ < 64) {
    pollfd p{readEnd, POLLIN, 0};
    // While running, wait for output; once stopping, take what is there.
    int ready = ::poll(&p, 1, stopping ? 0 : 100);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0) {
      if (stopping || ready < 0)
        return;
      continue;
    }
    busy = true;
    ssize_t n = ::read(readEnd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      busy = false;
      continue;
    }
    if (n <= 0) {
      busy = false;
      return; // every writer is gone
    }
    write(buffer, size_t(n));
    busy = false;
  }
}

void iterc::rt::ServiceLog::write(const char *data, size_t size) {
  while (size > 0) {
    if (written >= cap) {
      // The current file is full: it becomes the rotated one.
      ::close(file);
      ::rename(path.c_str(), (path + ".1").c_str());
      file = openLogFile(path);
      written = 0;
    }
    size_t room = size_t(std::min<uint64_t>(cap - written, size));
    if (file >= 0) {
      ssize_t n = ::write(file, data, room);
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0)
        room = size_t(n);
    }
    written += room;
    data += room;
    size -= room;
  }
}

std::string iterc::rt::serviceLogTail(const std::string &path,
                                      size_t lines) {
  std::string current = logFileTail(path, lines);
  size_t have = current.empty()
                    ? 0
                    : size_t(std::count(current.begin(), current.end(), '\n')) +
                          1;
  if (have >= lines)
    return current;
  std::string older = logFileTail(path + ".1", lines - have);
  if (older.empty())
    return current;
  return current.empty() ? older : older + "\n" + current;
}
