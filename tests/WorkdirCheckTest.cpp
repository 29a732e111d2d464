//===- WorkdirCheckTest.cpp - C132: a tool's workdir stays in the workspace
//===//
//
// This file tests the check-time rule on a tool node's `workdir`: absolute
// paths and `..` components are errors (C132) with a fix-it naming the same
// directory inside the workspace; plain relative paths are clean, and the
// value is taken literally.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

using namespace iterc;
using namespace iterc::test;

namespace {

CheckResult checkWorkdir(const std::string &workdir) {
  return checkSource("tool t:\n  command: \"true\"\n  workdir: \"" + workdir +
                     "\"\n\nworkflow main:\n  entry: t\n  t -> done\n");
}

} // namespace

TEST_CASE("a tool's workdir outside the workspace is C132", "[sema][workdir]") {
  struct Case {
    const char *workdir;
    const char *why;
    const char *fix;
  };
  for (const Case &c :
       {Case{"../..", "leaves the workspace with '..'", "\".\""},
        Case{"..", "leaves the workspace with '..'", "\".\""},
        Case{"src/../../etc", "leaves the workspace with '..'", "\"src/etc\""},
        Case{"/tmp", "it is absolute", "\"tmp\""},
        Case{"//srv/app/", "it is absolute", "\"srv/app\""},
        Case{"/", "it is absolute", "\".\""}}) {
    INFO(c.workdir);
    CheckResult r = checkWorkdir(c.workdir);
    CHECK(r.codes() == std::vector<std::string>{"C132"});
    std::string text = r.render();
    CHECK(text.find("workdir '" + std::string(c.workdir) +
                    "' of tool 't' must be a directory inside the run's "
                    "workspace") != std::string::npos);
    CHECK(text.find(c.why) != std::string::npos);
    std::vector<Diagnostic> c132 = r.withCode("C132");
    REQUIRE(c132.size() == 1);
    REQUIRE(c132[0].fixIts.size() == 1);
    CHECK(c132[0].fixIts[0].replacement == c.fix);
  }
}

TEST_CASE("a tool's workdir inside the workspace is clean", "[sema][workdir]") {
  for (const char *workdir :
       {"src", "./src/app/", "a..b", "..hidden", "${DIR}", "{{vars.x}}", "."}) {
    INFO(workdir);
    CHECK(checkWorkdir(workdir).allCodes().empty());
  }
}
