//===- SmokeTest.cpp - The front end accepts and rejects whole files ------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

using namespace iterc;
using namespace iterc::test;

TEST_CASE("a minimal workflow checks cleanly", "[sema]") {
  CheckResult r = checkSource(R"(prompt sys:
  You review code.

schema verdict:
  approved: bool

agent reviewer:
  model: "openai/gpt-4o-mini"
  output: verdict
  system: sys

workflow w:
  entry: reviewer
  reviewer -> done when approved
  reviewer -> fail when not approved
)");
  CHECK(r.allCodes().empty());
  REQUIRE(r.module);
  CHECK(r.module->workflow.nodes.size() == 3);
  CHECK(r.module->workflow.edges.size() == 2);
}

TEST_CASE("a misspelt node gets C001 with a fix-it", "[sema]") {
  CheckResult r = checkSource(R"(agent reviewer:
  model: "m"

workflow w:
  entry: reviewer
  reviewer -> reviwer
)");
  REQUIRE(r.codes() == std::vector<std::string>{"C001"});
  REQUIRE(r.diags[0].fixIts.size() == 1);
  CHECK(r.diags[0].fixIts[0].replacement == "reviewer");
}
