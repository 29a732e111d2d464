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

/// The C++ iterc generates for a checked source.
codegen::CppFiles generated(const test::CheckResult &r,
                            const std::string &source) {
  std::filesystem::path templates =
      std::filesystem::path(ITERC_SOURCE_DIR) / "templates";
  return codegen::emitCpp(
      *r.module, codegen::makeEmitContext(*r.module, "wf.iter", source),
      codegen::Skeletons{readFile(templates / "workflow.h.mustache"),
                         readFile(templates / "workflow.cpp.mustache"),
                         readFile(templates / "CMakeLists.txt.mustache")});
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
  codegen::CppFiles cpp = generated(r, source);
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

namespace {

std::string withModelTimeouts(const std::string &value) {
  std::string source = agentWith("");
  size_t entry = source.find("  entry: a\n");
  REQUIRE(entry != std::string::npos);
  return source.insert(entry + 11, "  request_timeouts: " + value + "\n");
}

} // namespace

TEST_CASE("request_timeouts: deadlines per model and per provider reach the "
          "generated tables",
          "[sema][request_timeout]") {
  std::string source = withModelTimeouts(
      "{\"openai/o3\": {connect: \"5s\", first_byte: \"20m\", total: \"25m\"}, "
      "\"anthropic/*\": \"90s\"}");
  test::CheckResult r = checkSource(source, "wf.iter");
  INFO(r.render());
  REQUIRE(r.allCodes().empty());
  const auto &t = r.module->workflow.modelTimeouts;
  REQUIRE(t.size() == 2);
  CHECK(t[0].model == "openai/o3");
  CHECK(t[0].connectMs == 5000);
  CHECK(t[0].firstByteMs == 1200000);
  CHECK(t[0].totalMs == 1500000);
  CHECK(t[1].model == "anthropic/*");
  CHECK(t[1].totalMs == 90000);
  CHECK(t[1].connectMs == 0);

  codegen::CppFiles cpp = generated(r, source);
  CHECK(cpp.source.find("{\"openai/o3\", 5000, 1200000, 1500000}") !=
        std::string::npos);
  CHECK(cpp.source.find(".modelTimeouts = ") != std::string::npos);
}

TEST_CASE("request_timeouts: a key that is not a model, a key given twice, a "
          "deadline not positive, an unknown field and a late connect are "
          "each reported",
          "[sema][request_timeout]") {
  auto codesOf = [](const std::string &value) {
    return checkSource(withModelTimeouts(value)).allCodes();
  };
  CHECK(codesOf("{gpt4: \"1m\"}") == std::vector<std::string>{"E020"});
  CHECK(codesOf("{\"openai/o*\": \"1m\"}") ==
        std::vector<std::string>{"E020"});
  CHECK(codesOf("{\"openai/o3\": \"1m\", \"openai/o3\": \"2m\"}") ==
        std::vector<std::string>{"E020"});
  CHECK(codesOf("{\"openai/o3\": \"0s\"}") ==
        std::vector<std::string>{"C142"});
  CHECK(codesOf("{\"openai/o3\": {first_bite: \"1m\"}}") ==
        std::vector<std::string>{"E020"});
  CHECK(codesOf("{\"openai/o3\": {connect: \"2m\", total: \"1m\"}}") ==
        std::vector<std::string>{"C143"});
  CHECK(codesOf("\"1m\"") == std::vector<std::string>{"E020"});
  test::CheckResult twice = checkSource(
      withModelTimeouts("{\"openai/o3\": \"1m\", \"openai/o3\": \"2m\"}"));
  CHECK(twice.render().find("'openai/o3' (given twice)") != std::string::npos);
}
