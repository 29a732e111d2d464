//===- ShellValuesTest.cpp - Values in tool commands: check and run -------===//
//
// `iterc check` refuses the places of a tool command where no value can go
// safely (C130, with fix-its) and warns where the command hands a value on
// as code (C131); the ordinary places are clean. End to end: a workflow
// built with the real `iterc build` and run with a hostile `--var` prints
// the value's text and runs none of it.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace iterc;
using namespace iterc::test;

namespace {

std::string toolFile(const std::string &property) {
  return "vars:\n  p: string = \"x\"\n\ntool t:\n  " + property +
         "\n\nworkflow w:\n  entry: t\n  t -> done\n";
}

} // namespace

TEST_CASE("shell values: places no value can go are C130", "[shell-check]") {
  for (const char *command :
       {"command: `echo $(( {{vars.p}} + 1 ))`",
        "command: `(( n = {{vars.p}} ))`", "command: `[[ {{vars.p}} -eq 1 ]]`",
        "command: \"echo `echo {{vars.p}}`\"", "command: `echo \\{{vars.p}}`",
        "command: `echo $'{{vars.p}}'`",
        "command: `echo \"$(( ${N:-{{vars.p}}} ))\"`",
        "script: `cat <<'EOF'\n{{vars.p}}\nEOF\n`"}) {
    CheckResult r = checkSource(toolFile(command));
    INFO(command << "\n" << r.render());
    CHECK(r.codes() == std::vector<std::string>{"C130"});
  }
}

TEST_CASE("shell values: a C130 in arithmetic offers a checked variable",
          "[shell-check]") {
  CheckResult r = checkSource(toolFile("command: `echo $(( {{vars.p}} ))`"));
  CHECK(r.allCodes() == std::vector<std::string>{"C130"});
  std::vector<Diagnostic> c130 = r.withCode("C130");
  REQUIRE(c130.size() == 1);
  const Diagnostic &d = c130[0];
  CHECK(d.code == "C130");
  REQUIRE(d.fixIts.size() == 2);
  CHECK(d.fixIts[0].replacement ==
        "p={{vars.p}}; case $p in ''|*[!0-9]*) echo 'not a number' >&2; "
        "exit 2;; esac; ");
  CHECK(d.fixIts[1].replacement == "$p");
  // Applied, the command checks clean.
  CheckResult fixed = checkSource(toolFile(
      "command: `p={{vars.p}}; case $p in ''|*[!0-9]*) echo 'not a number' "
      ">&2; exit 2;; esac; echo $(( $p ))`"));
  CHECK(fixed.allCodes().empty());
  // A stray backslash: the fix-it removes it.
  CheckResult slash = checkSource(toolFile("command: `echo \\{{vars.p}}`"));
  std::vector<Diagnostic> stray = slash.withCode("C130");
  CHECK(slash.allCodes() == std::vector<std::string>{"C130"});
  REQUIRE(stray.size() == 1);
  REQUIRE(stray[0].fixIts.size() == 1);
  CHECK(stray[0].fixIts[0].replacement.empty());
}

TEST_CASE("shell values: a value handed on as code is C131", "[shell-check]") {
  for (const char *command : {
           "command: `sh -c 'echo {{vars.p}}'`",
           "command: `bash -c \"echo {{vars.p}}\"`",
           "command: `eval \"echo {{vars.p}}\"`",
           "script: \"print('{{vars.p}}')\"\n  language: python3",
           "script: \"console.log('{{vars.p}}')\"\n  language: node",
       }) {
    CheckResult r = checkSource(toolFile(command));
    INFO(command << "\n" << r.render());
    CHECK(r.codes(Severity::Warning) == std::vector<std::string>{"C131"});
    CHECK(r.codes().empty());
  }
}

TEST_CASE("shell values: the ordinary places are clean", "[shell-check]") {
  for (const char *command : {
           "command: `echo {{vars.p}} a{{vars.p}}b`",
           "command: `echo \"{{vars.p}}\" 'a {{vars.p}} b'`",
           "command: `X={{vars.p}}; echo \"$(printf '%s' {{vars.p}})\"`",
           "command: `echo ${UNSET:-{{vars.p}}} \"${HOME}\"`",
           "command: `sh -c 'echo \"$1\"' sh {{vars.p}}`",
           "command: `echo {{!vars.p}}`",
           "script: `cat <<EOF\n{{vars.p}}\nEOF\n`",
           "script: \"echo $'{{vars.p}}'\"\n  language: bash",
           "script: \"import os; print(os.environ['P'])\"\n  language: "
           "python3\n  env: { P: \"{{vars.p}}\" }",
       }) {
    CheckResult r = checkSource(toolFile(command));
    INFO(command << "\n" << r.render());
    CHECK(r.allCodes().empty());
  }
}

TEST_CASE("shell values: a hostile --var reaches a built workflow as text",
          "[shell-e2e]") {
  std::string iterc = ITERC_BINARY;
  REQUIRE(::access(iterc.c_str(), X_OK) == 0);
  TempDir dir;
  writeFile(dir.path / "inject.iter",
            "vars:\n  p: string = \"plain\"\n\n"
            "tool dq:\n  command: `echo \"{{vars.p}}\"`\n  capture: true\n\n"
            "tool sq:\n  command: `echo 'x {{vars.p}} y'`\n  capture: true\n\n"
            "workflow inject:\n  entry: dq\n  dq -> sq\n  sq -> done\n");
  std::string cache =
      (std::filesystem::path(iterc).parent_path() / "e2e-cache").string();
  int built = shell("ITERC_CACHE_DIR=" + quote(cache) + " " + quote(iterc) +
                    " build " + quote(dir.path / "inject.iter") + " -o " +
                    quote(dir.path / "inject") + " > " +
                    quote(dir.path / "build.log") + " 2>&1");
  INFO(readFile(dir.path / "build.log"));
  REQUIRE(built == 0);
  std::filesystem::create_directories(dir.path / "ws");
  const std::string value = "$(touch pwned)'\"; touch pwned2 #";
  int ran = shell("cd " + quote(dir.path) + " && ./inject run --var " +
                  quote("p=" + value) +
                  " --store-dir store --workspace ws --json > events.jsonl");
  std::string events = readFile(dir.path / "events.jsonl");
  INFO(events);
  CHECK(ran == 0);
  CHECK_FALSE(std::filesystem::exists(dir.path / "ws/pwned"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "ws/pwned2"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "pwned"));
  // The literal text, as JSON: `"` and the newline escaped.
  CHECK(events.find(R"("stdout":"$(touch pwned)'\"; touch pwned2 #\n")") !=
        std::string::npos);
  CHECK(events.find(R"("stdout":"x $(touch pwned)'\"; touch pwned2 # y\n")") !=
        std::string::npos);
}
