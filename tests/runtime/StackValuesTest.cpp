//===- StackValuesTest.cpp - Hostile values through a service -------------===//
//
// A service's command, env values and health command may hold `${NAME}`
// references read from the runner's environment (expandEnv, as the program
// loader applies it to every service). Under the local runtime, each value
// of a hostile corpus must reach the service's argv, its environment and
// the health command's argv byte for byte, and run none of itself.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Stack.h"
#include "iterc/rt/Workflow.h"

#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::ScopedEnv;
using iterc::rt::test::TempDir;

namespace {

std::string fileText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> hostileValues() {
  std::string longValue;
  while (longValue.size() < 100 * 1024)
    longValue += "'\"$(touch pwned)`touch pwned`;\n\\ ";
  return {"plain",
          "two  words",
          "'",
          "\"",
          "it's \"quoted\" \\",
          "$(touch pwned)",
          "`touch pwned`",
          "; touch pwned #",
          "&& touch pwned | cat",
          "\ntouch pwned\n",
          "${IFS}$1$HOME",
          "*?[a]~-n",
          "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
          std::string("\xff\xfe invalid"),
          "trailing\\",
          longValue};
}

} // namespace

TEST_CASE("stack: hostile values reach a service's argv, env and health "
          "command byte for byte",
          "[stack-rt][shell-template]") {
  for (const std::string &value : hostileValues()) {
    INFO("value: " << value.substr(0, 100));
    TempDir dir;
    ScopedEnv hostile("ITERC_TEST_HOSTILE", value.c_str());
    ServiceDesc s;
    s.name = "echoer";
    s.program = "sh";
    s.command = {"-c",
                 "printf '%s' \"$1\" > arg.out; "
                 "printf '%s' \"$SERVICE_VALUE\" > env.out; exec sleep 30",
                 "echoer", "${ITERC_TEST_HOSTILE}"};
    s.env = {{"SERVICE_VALUE", "${ITERC_TEST_HOSTILE}"}};
    s.health = HealthDesc{"",
                          {"sh", "-c",
                           "test -f env.out && printf '%s' \"$1\" > health.out",
                           "check", "${ITERC_TEST_HOSTILE:-unset}"},
                          20,
                          5000,
                          200};
    // What the program loader does to every service.
    for (std::string &a : s.command)
      a = expandEnv(a);
    for (auto &kv : s.env)
      kv.second = expandEnv(kv.second);
    for (std::string &a : s.health->command)
      a = expandEnv(a);

    LocalRuntimeOptions opts;
    opts.workspace = dir.path();
    opts.sandbox = "off";
    opts.stopGraceMs = 1000;
    std::unique_ptr<StackRuntime> stack = makeLocalRuntime(opts);
    std::vector<ServiceDesc> all = {s};
    Status up = stack->up(*startOrder(all, {"echoer"}));
    INFO((up.ok() ? "" : up.error().message));
    REQUIRE(up.ok());
    stack->down();
    CHECK(fileText(dir / "arg.out") == value);
    CHECK(fileText(dir / "env.out") == value);
    CHECK(fileText(dir / "health.out") == value);
    CHECK(::access((dir / "pwned").c_str(), F_OK) != 0);
  }
}
