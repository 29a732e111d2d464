//===- ExamplesTest.cpp - Every example workflow checks cleanly -----------===//
//
// Each examples/*.iter must check with no error and no warning: they are
// what a user copies first.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "Tools/Formatter.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> exampleFiles() {
  std::vector<std::string> files;
  fs::path dir = fs::path(ITERC_SOURCE_DIR) / "examples";
  for (const fs::directory_entry &entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".iter")
      files.push_back("examples/" + entry.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

TEST_CASE("every example checks with no errors and no warnings",
          "[examples]") {
  std::vector<std::string> files = exampleFiles();
  REQUIRE(files.size() >= 9);
  for (const std::string &file : files) {
    CheckResult r = checkSource(readRepoFile(file), file);
    INFO(file << ":\n" << r.render());
    CHECK(r.allCodes().empty());
    CHECK(r.module != nullptr);
  }
}

TEST_CASE("the examples cover iterc's extensions", "[examples]") {
  // A cheap guard against an example being simplified until it no longer
  // shows what it is there to show.
  struct Expect {
    const char *file;
    std::vector<const char *> needles;
  };
  const std::vector<Expect> expectations = {
      {"examples/ci_fix_loop.iter",
       {"capture: true", "verify ", "as fix_loop(", "outputs.tests_green.failures"}},
      {"examples/plan_execute_critic.iter", {"as replan("}},
      {"examples/approval_gate.iter", {"interaction: human", "approval: required"}},
      {"examples/approval_gate_classic.iter", {"mode: pause_until_answers"}},
      {"examples/llm_router.iter", {"mode: llm"}},
      {"examples/budget_refine.iter", {"budget:", "no_progress:"}},
      {"examples/service_stack.iter", {"service api:", "services: [", "http:"}},
      {"examples/codegen_loop.iter", {": files", "write_files:", "verify "}},
      {"examples/classic_join.iter", {"mode: fan_out_all", "join "}},
      {"examples/assertion_first.iter",
       {"assertions: \"{{outputs.plan.assertions}}\"", "all(a in ",
        "outputs.proof.failures", "as fix("}},
  };
  for (const Expect &e : expectations) {
    std::string text = readRepoFile(e.file);
    INFO(e.file);
    REQUIRE_FALSE(text.empty());
    for (const char *needle : e.needles) {
      INFO(needle);
      CHECK(text.find(needle) != std::string::npos);
    }
  }
}

TEST_CASE("every example is in canonical form", "[examples]") {
  // Examples are what users copy: they should already look like `iterc fmt`
  // output.
  for (const std::string &file : exampleFiles()) {
    std::string text = readRepoFile(file);
    CheckResult r = checkSource(text, file, /*runSema=*/false);
    REQUIRE(r.ast);
    INFO(file);
    CHECK(formatFile(*r.ast, *r.sources) == text);
  }
}
