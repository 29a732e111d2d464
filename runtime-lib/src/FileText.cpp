//===- FileText.cpp - Whole-file reads and writes without iostreams -------===//
//
// This file implements readFileText, readBoundedFile and writeFileText over
// open(2), read(2) and write(2). readBoundedFile reads what a person names on
// the command line — a source file for the compiler, an answers or variable
// file for an executable — as a regular file of a bounded size. The
// compiler builds this file too; it uses the standard library only.
//
//===----------------------------------------------------------------------===//
#include "FileText.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string tooLarge(size_t maxBytes, std::string_view limitFor) {
  std::string size = maxBytes % (1 << 20) == 0
                         ? std::to_string(maxBytes >> 20) + " MiB"
                         : std::to_string(maxBytes) + " bytes";
  return "file is larger than " + size + ", the limit" +
         (limitFor.empty() ? "" : " for " + std::string(limitFor));
}

/// Reads `fd` to its end, failing once more than `maxBytes` bytes came.
std::optional<std::string> readAtMost(int fd, size_t maxBytes,
                                      std::string_view limitFor,
                                      std::string &error) {
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
    if (data.size() > maxBytes) {
      error = tooLarge(maxBytes, limitFor);
      return std::nullopt;
    }
  }
}

} // namespace

std::optional<std::string> iterc::rt::readFileText(const std::string &path,
                                                   bool followLinks) {
  int fd = ::open(path.c_str(),
                  O_RDONLY | O_CLOEXEC | (followLinks ? 0 : O_NOFOLLOW));
  if (fd < 0)
    return std::nullopt;
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return std::nullopt;
    }
    if (n == 0)
      break;
    text.append(buf, size_t(n));
  }
  ::close(fd);
  return text;
}

std::optional<std::string>
iterc::rt::readBoundedFile(const std::string &path, size_t maxBytes,
                           std::string &error, std::string_view limitFor) {
  if (path == "-")
    return readAtMost(STDIN_FILENO, maxBytes, limitFor, error);
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; it
  // is refused below like any other file that is not regular.
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
    error = "not a regular file (a FIFO, socket or device is not read; use "
            "'-' to read standard input)";
  } else if (uint64_t(st.st_size) > maxBytes) {
    error = tooLarge(maxBytes, limitFor);
  } else {
    // A regular file never blocks; clear the flag all the same.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    data = readAtMost(fd, maxBytes, limitFor, error);
  }
  ::close(fd);
  return data;
}

bool iterc::rt::writeFileText(const std::string &path, std::string_view text,
                              bool *opened, bool followLinks) {
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
                      (followLinks ? 0 : O_NOFOLLOW),
                  0666);
  if (opened)
    *opened = fd >= 0;
  if (fd < 0)
    return false;
  const char *p = text.data();
  size_t left = text.size();
  bool ok = true;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    p += n;
    left -= size_t(n);
  }
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}
