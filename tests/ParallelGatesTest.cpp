//===- ParallelGatesTest.cpp - Human gates inside parallel branches -------===//
//
// A human node reached by a fan-out before its branches meet cannot pause
// the run (C144); before the fan-out, after the join, or behind a router
// that picks one route, it can.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

using namespace iterc;
using iterc::test::checkSource;
using iterc::test::CheckResult;

namespace {

/// split (`mode`) -> the human gates legal and security, then `after`.
std::string gates(const std::string &mode, const std::string &after) {
  return "schema decision:\n  approved: bool\n\n"
         "router split:\n  mode: " +
         mode +
         "\n\n"
         "human legal:\n  output: decision\n\n"
         "human security:\n  output: decision\n\n"
         "workflow main:\n  entry: split\n"
         "  split -> legal\n  split -> security\n" +
         after;
}

} // namespace

TEST_CASE("C144: human gates in parallel branches are refused at check time",
          "[sema][human]") {
  CheckResult r = checkSource(gates(
      "fan_out_all", "  legal -> done\n  security -> done\n"));
  INFO(r.render());
  CHECK(r.codes() == std::vector<std::string>{"C144", "C144"});
  std::vector<Diagnostic> c144 = r.withCode("C144");
  REQUIRE(c144.size() == 2);
  CHECK(c144[0].message ==
        "human node 'legal' runs inside a parallel branch of 'split', where a "
        "run cannot pause for a person; put the gate before 'split' or after "
        "the branches meet");
  CHECK(c144[1].message.find("'security'") != std::string::npos);
  // The position is the gate's name.
  std::string source = gates("fan_out_all", "");
  CHECK(c144[0].range.begin == source.find("legal:"));
}

TEST_CASE("C144: a gate after the branches meet, or behind a single-route "
          "router, is fine",
          "[sema][human]") {
  // Both branches meet at `final`: it runs once, outside the branches.
  CheckResult joined = checkSource(
      "schema decision:\n  approved: bool\n\n"
      "router split:\n  mode: fan_out_all\n\n"
      "tool a:\n  command: \"true\"\n\n"
      "tool b:\n  command: \"true\"\n\n"
      "human final:\n  output: decision\n  await: wait_all\n\n"
      "workflow main:\n  entry: split\n"
      "  split -> a\n  split -> b\n  a -> final\n  b -> final\n"
      "  final -> done\n");
  INFO(joined.render());
  CHECK_FALSE(joined.hasCode("C144"));
  // round_robin picks one route: no parallel branch.
  CheckResult single = checkSource(gates(
      "round_robin", "  legal -> done\n  security -> done\n"));
  INFO(single.render());
  CHECK_FALSE(single.hasCode("C144"));
}
