//===- ToolOutputCapCheckTest.cpp - A tool node's max_output --------------===//
//
// Checks `max_output` from the source to the generated tables: a size with
// a binary unit or a number of bytes, 1 KiB to 1 GiB, anything else C145;
// the truncation fields of a captured tool's output can be referenced.
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

std::string toolWith(const std::string &cap) {
  return withWorkflow("tool t:\n  command: \"make test\"\n  capture: true\n" +
                          cap,
                      "  t -> done\n", "t");
}

} // namespace

TEST_CASE("max_output: a size with a binary unit or in bytes, in the "
          "generated table",
          "[sema][max_output]") {
  test::CheckResult mib = checkSource(toolWith("  max_output: \"4MiB\"\n"));
  INFO(mib.render());
  REQUIRE(mib.allCodes().empty());
  CHECK(mib.module->workflow.nodes[0].maxOutputBytes == 4 << 20);
  test::CheckResult bytes = checkSource(toolWith("  max_output: 65536\n"));
  REQUIRE(bytes.allCodes().empty());
  CHECK(bytes.module->workflow.nodes[0].maxOutputBytes == 65536);
  test::CheckResult unset = checkSource(toolWith(""));
  REQUIRE(unset.allCodes().empty());
  CHECK(!unset.module->workflow.nodes[0].maxOutputBytes);

  std::string source = toolWith("  max_output: \"512KiB\"\n");
  test::CheckResult r = checkSource(source, "wf.iter");
  REQUIRE(r.codes().empty());
  std::filesystem::path templates =
      std::filesystem::path(ITERC_SOURCE_DIR) / "templates";
  codegen::CppFiles cpp = codegen::emitCpp(
      *r.module, codegen::makeEmitContext(*r.module, "wf.iter", source),
      codegen::Skeletons{readFile(templates / "workflow.h.mustache"),
                         readFile(templates / "workflow.cpp.mustache"),
                         readFile(templates / "CMakeLists.txt.mustache")});
  CHECK(cpp.source.find(".maxOutputBytes = 524288") != std::string::npos);
}

TEST_CASE("max_output: a decimal unit, no number, zero, too small or too "
          "large is C145",
          "[sema][max_output]") {
  for (const char *bad : {"\"4MB\"", "\"MiB\"", "0", "\"512\"", "\"2GiB\"",
                          "\"-1KiB\"", "\"99999999999999999999\"", "true"}) {
    INFO(bad);
    test::CheckResult r =
        checkSource(toolWith(std::string("  max_output: ") + bad + "\n"));
    CHECK(r.codes() == std::vector<std::string>{"C145"});
  }
  test::CheckResult r = checkSource(toolWith("  max_output: \"4MB\"\n"));
  std::vector<Diagnostic> c145 = r.withCode("C145");
  REQUIRE(c145.size() == 1);
  CHECK(r.render().find("max_output of tool 't': '4MB' is not a size") !=
        std::string::npos);
}

TEST_CASE("max_output: a captured tool's truncation fields can be referenced",
          "[sema][max_output]") {
  test::CheckResult r = checkSource(withWorkflow(
      "tool t:\n  command: \"make test\"\n  capture: true\n\n"
      "tool u:\n  command: \"echo {{outputs.t.stdout_bytes}} "
      "{{outputs.t.stdout_truncated}} {{outputs.t.stderr_bytes}} "
      "{{outputs.t.stderr_truncated}}\"\n",
      "  t -> u\n  u -> done\n", "t"));
  INFO(r.render());
  CHECK(r.allCodes().empty());
}
