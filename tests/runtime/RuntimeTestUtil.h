//===- RuntimeTestUtil.h - Helpers shared by runtime tests ------*- C++ -*-===//
#ifndef ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H
#define ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H

#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <sys/types.h>
#include <thread>

namespace iterc::rt::test {

/// Sets an environment variable for the scope of a test.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name(name) {
    if (const char *old = std::getenv(name))
      saved = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (saved)
      ::setenv(name, saved->c_str(), 1);
    else
      ::unsetenv(name);
  }

private:
  const char *name;
  std::optional<std::string> saved;
};

/// A fresh temporary directory (symlinks resolved), removed recursively at
/// scope exit.
class TempDir {
public:
  TempDir() {
    char pattern[] = "/tmp/iterc-test-XXXXXX";
    char *made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    char resolved[PATH_MAX];
    REQUIRE(::realpath(made, resolved) != nullptr);
    dir = resolved;
  }
  ~TempDir() {
    std::string command = "rm -rf " + shellQuote(dir);
    int rc = std::system(command.c_str());
    (void)rc;
  }
  const std::string &path() const { return dir; }
  std::string operator/(const std::string &name) const {
    return dir + "/" + name;
  }

private:
  std::string dir;
};

/// Writes `text` to `path` (created or truncated).
inline void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

/// The whole content of `path` ("" when it cannot be read).
inline std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// True once `pid` is gone or a zombie (a container's init may not reap
/// it), within two seconds.
inline bool processGone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH)
      return true;
    std::string stat = readText("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() &&
        stat[close + 2] == 'Z')
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H
