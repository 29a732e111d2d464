//===- AppVarFile.cpp - --var-file NAME=PATH: a variable read from a file -===//
//
// `--var diff="$(cat change.diff)"` loses the file's final newlines (the
// shell strips them), so the value differs from the file and a cassette
// recorded with the file does not match. `--var-file NAME=PATH` gives the
// variable the file's bytes exactly. The file is hostile input: only a
// regular file is read (a FIFO or a device would block or never end), and
// at most kMaxVarFileBytes of it.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

constexpr size_t kMaxVarFileBytes = size_t(16) << 20; // 16 MiB

/// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// The bytes of the regular file `path`, or an error message.
Expected<std::string> readVarFile(const std::string &path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below by fstat.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0)
    return Error(ErrorCode::InvalidInput, std::strerror(errno));
  struct stat st;
  if (::fstat(f.fd, &st) != 0)
    return Error(ErrorCode::InvalidInput, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return Error(ErrorCode::InvalidInput, "not a regular file");
  if (size_t(st.st_size) > kMaxVarFileBytes)
    return Error(ErrorCode::InvalidInput,
                 "larger than 16 MiB (" + std::to_string(st.st_size) +
                     " bytes)");
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      return Error(ErrorCode::InvalidInput, std::strerror(errno));
    if (n == 0)
      break;
    if (text.size() + size_t(n) > kMaxVarFileBytes)
      return Error(ErrorCode::InvalidInput, "larger than 16 MiB");
    text.append(buf, size_t(n));
  }
  return text;
}

} // namespace

Expected<std::vector<std::string>>
iterc::rt::app::varArguments(const Options &opts) {
  std::vector<std::string> args;
  for (const std::string &arg : opts.all("--var-file")) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
      return Error(ErrorCode::InvalidInput,
                   "--var-file expects NAME=PATH, got '" + arg + "'");
    std::string path = arg.substr(eq + 1);
    Expected<std::string> text = readVarFile(path);
    if (!text)
      return Error(ErrorCode::InvalidInput,
                   "cannot read --var-file " + arg.substr(0, eq) + "=" + path +
                       ": " + text.error().message);
    args.push_back(arg.substr(0, eq + 1) + *text);
  }
  for (const std::string &arg : opts.all("--var"))
    args.push_back(arg);
  return args;
}
