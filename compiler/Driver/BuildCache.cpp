//===- BuildCache.cpp - Trusting the build cache no more than needed ------===//
#include "Driver/BuildCache.h"

#include "CodeGen/Emit.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr const char *checksumFile = "program.sha256";

std::string errnoText() { return std::strerror(errno); }

std::string octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(mode & 07777));
  return buf;
}

/// The whole content of an open file.
bool readAll(int fd, std::string &out) {
  out.clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    out.append(buf, size_t(n));
  }
}

bool readSmallFile(const std::string &path, std::string &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return false;
  bool ok = readAll(fd, out);
  ::close(fd);
  return ok;
}

} // namespace

bool iterc::buildcache::makePrivateDir(const std::string &path) {
  return ::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST;
}

bool iterc::buildcache::prepareRoot(const std::string &root,
                                    std::string &error) {
  // Missing components are created private, from the top down.
  for (size_t slash = root.find('/', 1);; slash = root.find('/', slash + 1)) {
    std::string prefix = root.substr(0, slash);
    struct stat st;
    if (!prefix.empty() && ::stat(prefix.c_str(), &st) != 0 &&
        !makePrivateDir(prefix)) {
      error = "cannot create the build cache directory '" + prefix +
              "': " + errnoText() + " (set ITERC_CACHE_DIR to use another)";
      return false;
    }
    if (slash == std::string::npos)
      break;
  }
  struct stat st;
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "the build cache '" + root + "' is not a directory";
    return false;
  }
  if (st.st_uid != ::geteuid()) {
    error = "the build cache '" + root + "' belongs to another user (uid " +
            std::to_string(st.st_uid) +
            "); iterc runs what it finds there, so it uses only a cache of "
            "its own: set ITERC_CACHE_DIR to a directory you own";
    return false;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    error = "the build cache '" + root + "' may be written by others (mode " +
            octal(st.st_mode) +
            "); iterc runs what it finds there: make it private (chmod 700 '" +
            root + "') or set ITERC_CACHE_DIR to another directory";
    return false;
  }
  return true;
}

bool iterc::buildcache::recordChecksum(const std::string &entry,
                                       const std::string &program,
                                       std::string &error) {
  std::string content;
  int fd = ::open((entry + "/" + program).c_str(),
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || !readAll(fd, content)) {
    error = "cannot read the executable in '" + entry + "': " + errnoText();
    if (fd >= 0)
      ::close(fd);
    return false;
  }
  ::close(fd);
  std::string sum = codegen::sha256Hex(content) + "\n";
  std::string path = entry + "/" + checksumFile;
  int out = ::open(path.c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok =
      out >= 0 && ::write(out, sum.data(), sum.size()) == ssize_t(sum.size());
  if (out >= 0 && ::close(out) != 0)
    ok = false;
  if (!ok)
    error = "cannot write '" + path + "': " + errnoText();
  return ok;
}

int iterc::buildcache::openVerified(const std::string &entry,
                                    const std::string &program,
                                    std::string &error) {
  std::string recorded;
  if (!readSmallFile(entry + "/" + checksumFile, recorded)) {
    error = "the cache entry " + entry + " records no checksum";
    return -1;
  }
  while (!recorded.empty() && recorded.back() == '\n')
    recorded.pop_back();
  std::string path = entry + "/" + program;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  std::string content;
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      !readAll(fd, content)) {
    error = "cannot read the cached executable " + path;
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  if (codegen::sha256Hex(content) != recorded) {
    error = "the cached executable " + path +
            " does not match the checksum recorded when it was built";
    ::close(fd);
    return -1;
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}
