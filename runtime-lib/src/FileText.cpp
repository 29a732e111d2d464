//===- FileText.cpp - Whole-file reads and writes without iostreams -------===//
//
// This file implements readFileText and writeFileText over open(2), read(2)
// and write(2).
//
//===----------------------------------------------------------------------===//
#include "FileText.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

std::optional<std::string> iterc::rt::readFileText(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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

bool iterc::rt::writeFileText(const std::string &path, std::string_view text,
                              bool *opened) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
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
