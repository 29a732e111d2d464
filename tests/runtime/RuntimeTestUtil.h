//===- RuntimeTestUtil.h - Helpers shared by runtime tests ------*- C++ -*-===//
#ifndef ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H
#define ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H

#include <cstdlib>
#include <optional>
#include <string>

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

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_RUNTIMETESTUTIL_H
