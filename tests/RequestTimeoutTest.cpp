//===- RequestTimeoutTest.cpp - A node's request_timeout ------------------===//
//
// Checks `request_timeout` from the source to the generated tables: one
// duration is the total of each attempt, a block sets connect, first_byte
// and total; a deadline that is not positive is C142, and a connect or
// first_byte deadline not shorter than the total is the C143 warning.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/CppEmitter.h"
#include "CodeGen/Emit.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>

using namespace iterc;
using iterc::test::checkSource;
using iterc::test::readFile;
using iterc::test::withWorkflow;

namespace {

std::string agentWith(const std::string &timeout) {
  return withWorkflow("agent a:\n  model: \"openai/gpt-4o-mini\"\n"
                      "  output: out\n" +
                          timeout,
                      "  a -> done\n", "a");
}

const ir::Node &nodeA(const test::CheckResult &r) {
  return r.module->workflow.nodes[0];
}

} // namespace

TEST_CASE("request_timeout: one duration is the total, a block sets each "
          "deadline",
          "[sema][request_timeout]") {
  test::CheckResult total = checkSource(agentWith("  request_timeout: 90\n"));
  INFO(total.render());
  REQUIRE(total.allCodes().empty());
  CHECK(nodeA(total).requestTotalMs == 90000);
  CHECK(nodeA(total).requestConnectMs == 0);
  CHECK(nodeA(total).requestFirstByteMs == 0);

  test::CheckResult block = checkSource(
      agentWith("  request_timeout:\n    connect: \"5s\"\n"
                "    first_byte: \"20m\"\n    total: \"25m\"\n"));
  INFO(block.render());
  REQUIRE(block.allCodes().empty());
  CHECK(nodeA(block).requestConnectMs == 5000);
  CHECK(nodeA(block).requestFirstByteMs == 1200000);
  CHECK(nodeA(block).requestTotalMs == 1500000);

  // The generated tables carry them to the executable.
  std::string source = agentWith("  request_timeout:\n    connect: \"5s\"\n"
                                 "    total: \"25m\"\n");
  test::CheckResult r = checkSource(source, "wf.iter");
  REQUIRE(r.codes().empty());
  std::filesystem::path templates =
      std::filesystem::path(ITERC_SOURCE_DIR) / "templates";
  codegen::CppFiles cpp = codegen::emitCpp(
      *r.module, codegen::makeEmitContext(*r.module, "wf.iter", source),
      codegen::Skeletons{readFile(templates / "workflow.h.mustache"),
                         readFile(templates / "workflow.cpp.mustache"),
                         readFile(templates / "CMakeLists.txt.mustache")});
  CHECK(cpp.source.find(".requestConnectMs = 5000") != std::string::npos);
  CHECK(cpp.source.find(".requestTotalMs = 1500000") != std::string::npos);
  CHECK(cpp.source.find(".requestFirstByteMs") == std::string::npos);
}

TEST_CASE("request_timeout: a model-answered human gate and an llm router "
          "take it too; another router mode does not",
          "[sema][request_timeout]") {
  test::CheckResult human = checkSource(withWorkflow(
      "human h:\n  interaction: llm\n  model: \"openai/gpt-4o-mini\"\n"
      "  output: out\n  request_timeout: \"2m\"\n",
      "  h -> done\n", "h"));
  INFO(human.render());
  CHECK(human.allCodes().empty());
  CHECK(human.module->workflow.nodes[0].requestTotalMs == 120000);

  std::string routers = "agent a:\n  model: \"openai/gpt-4o-mini\"\n"
                        "  output: out\n\nrouter r:\n  mode: MODE\n"
                        "  model: \"openai/gpt-4o-mini\"\n"
                        "  request_timeout: \"1m\"\n";
  auto withMode = [&](const std::string &mode) {
    std::string decls = routers;
    decls.replace(decls.find("MODE"), 4, mode);
    return withWorkflow(decls, "  r -> a\n  r -> done\n  a -> done\n", "r");
  };
  test::CheckResult llm = checkSource(withMode("llm"));
  INFO(llm.render());
  CHECK(llm.codes().empty());
  test::CheckResult fanOut = checkSource(withMode("fan_out_all"));
  CHECK(fanOut.hasCode("C023"));
}

TEST_CASE("request_timeout: not positive is C142, an unknown key E012, a "
          "deadline past the total C143",
          "[sema][request_timeout]") {
  test::CheckResult zero = checkSource(agentWith("  request_timeout: \"0s\"\n"));
  CHECK(zero.codes() == std::vector<std::string>{"C142"});
  test::CheckResult connect =
      checkSource(agentWith("  request_timeout:\n    connect: 0\n"));
  CHECK(connect.codes() == std::vector<std::string>{"C142"});
  CHECK(connect.render().find("request_timeout of 'a': connect must be a "
                              "positive duration") != std::string::npos);
  test::CheckResult unknown =
      checkSource(agentWith("  request_timeout:\n    first_bite: \"1m\"\n"));
  CHECK(unknown.codes() == std::vector<std::string>{"E012"});
  test::CheckResult late = checkSource(agentWith(
      "  request_timeout:\n    connect: \"2m\"\n    total: \"90s\"\n"));
  CHECK(late.codes().empty());
  CHECK(late.codes(Severity::Warning) == std::vector<std::string>{"C143"});
  CHECK(late.render().find("connect (120s) is not shorter than total (90s)") !=
        std::string::npos);
}
