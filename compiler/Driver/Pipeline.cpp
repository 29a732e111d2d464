//===- Pipeline.cpp - Running the front end over files --------------------===//
//
// This file implements the shared front-end pipeline.
//
//===----------------------------------------------------------------------===//
#include "Driver/Pipeline.h"

#include "Frontend/ParseDriver.h"
#include "Sema/Sema.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc;

const char *iterc::iterVersion() { return ITERC_VERSION; }

namespace {

std::string sizeLimitError() {
  return "file is larger than " + std::to_string(MaxSourceSize >> 20) +
         " MiB, the limit for a source file";
}

/// Reads `fd` to its end, failing once more than MaxSourceSize bytes came.
std::optional<std::string> readAll(int fd, std::string &error) {
  std::string data;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0)
      return data;
    data.append(buffer, size_t(n));
    if (data.size() > MaxSourceSize) {
      error = sizeLimitError();
      return std::nullopt;
    }
  }
}

} // namespace

std::optional<std::string> iterc::readSourceFile(const std::string &path,
                                                 std::string &error) {
  if (path == "-")
    return readAll(STDIN_FILENO, error);
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever; it is refused below like any other file that is not regular.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st;
  std::optional<std::string> data;
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
  } else if (S_ISDIR(st.st_mode)) {
    error = "it is a directory";
  } else if (!S_ISREG(st.st_mode)) {
    error = "not a regular file (a FIFO, socket or device is not read; "
            "use '-' to read standard input)";
  } else if (uint64_t(st.st_size) > MaxSourceSize) {
    error = sizeLimitError();
  } else {
    // A regular file never blocks; clear the flag all the same.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    data = readAll(fd, error);
  }
  ::close(fd);
  return data;
}

CompiledFile iterc::compileBuffer(const SourceManager &sources,
                                  unsigned fileId, DiagnosticEngine &diags,
                                  bool runSema) {
  CompiledFile result;
  result.fileId = fileId;
  auto t0 = std::chrono::steady_clock::now();
  result.ast = parseFile(sources, fileId, diags);
  auto t1 = std::chrono::steady_clock::now();
  if (result.ast && runSema)
    result.module = analyze(*result.ast, sources, diags);
  auto t2 = std::chrono::steady_clock::now();
  result.times.parse = std::chrono::duration<double>(t1 - t0).count();
  result.times.sema = std::chrono::duration<double>(t2 - t1).count();
  return result;
}
