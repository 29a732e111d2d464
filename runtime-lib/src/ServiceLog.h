//===- ServiceLog.h - A local service's output, capped and rotated -*- C++ -*-===//
//
// A service writing as fast as it can must not fill the disk. Its stdout
// and stderr go into a pipe; a thread copies them into <service>.log and,
// when that file reaches the cap, renames it to <service>.log.1 (replacing
// the previous one) and starts a new one. At most two files, each at most
// the cap, hold the latest output.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_SERVICELOG_H
#define ITERC_RT_SRC_SERVICELOG_H

#include "iterc/rt/Core.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace iterc::rt {

/// The cap of one service log file: ITERC_SERVICE_LOG_BYTES when it is a
/// number of at least 4096, else 8 MiB.
uint64_t serviceLogCap();

class ServiceLog {
public:
  /// Truncates `path` (and removes `path`.1) and opens the pipe.
  static Expected<std::unique_ptr<ServiceLog>> open(const std::string &path,
                                                    uint64_t cap);
  ~ServiceLog();
  ServiceLog(const ServiceLog &) = delete;
  ServiceLog &operator=(const ServiceLog &) = delete;

  /// The pipe's write end, for the child's stdout and stderr (close-on-exec
  /// here; dup2 in the child clears that).
  int writeFd() const { return writeEnd; }
  /// Starts copying; the parent's write end is closed (the child has it).
  void start();
  /// Copies what is still in the pipe and stops; idempotent.
  void finish();
  /// Waits (up to 100 ms) until what the service wrote so far is in the
  /// file, so that a tail read next shows it.
  void settle();

private:
  ServiceLog(std::string path, uint64_t cap, int readEnd, int writeEnd,
             int file)
      : path(std::move(path)), cap(cap), readEnd(readEnd), writeEnd(writeEnd),
        file(file) {}
  void pump();
  void write(const char *data, size_t size);

  std::string path;
  uint64_t cap;
  int readEnd, writeEnd, file;
  uint64_t written = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> busy{false}; ///< Between a read and its write.
  std::thread thread;
};

/// The last `lines` lines of a service's output: the rotated file's end
/// followed by the current file.
std::string serviceLogTail(const std::string &path, size_t lines);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_SERVICELOG_H
