//===- AppDocsTest.cpp - The executable does what its docs say ------------===//
//
// Statements of README.md and docs/executable.md about the executable's
// command line that once were false: `BIN --help` lists the workflow's
// variables, `resume --help` puts the --record note under --record, and
// `--var-file NAME=PATH` gives a variable a file's exact bytes (the final
// newline that `--var diff="$(cat f)"` loses included), so that the quick
// start's cassette matches.
//
//===----------------------------------------------------------------------===//
#include "AppTestUtil.h"
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Scope.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace iterc::rt;
using iterc::rt::test::CliResult;
using iterc::rt::test::runCli;
using iterc::rt::test::schema;
using iterc::rt::test::TempDir;
using iterc::rt::test::writeText;

namespace {

const AppInfo &echoInfo() {
  static const AppInfo info{"echo", "examples/echo.iter", "", ""};
  return info;
}

CliResult cli(const WorkflowDesc &wf, std::vector<std::string> args) {
  return runCli(wf, echoInfo(), args, "./echo");
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

VarDesc var(const std::string &name, FieldType type,
            std::optional<Json> defaultValue, bool secret = false) {
  VarDesc v;
  v.name = name;
  v.type = type;
  v.defaultValue = std::move(defaultValue);
  v.secret = secret;
  return v;
}

/// copy (compute: text = vars.diff) -> done. Variables: diff (string,
/// required), rounds (int = 3), level (enum, "low"), token (secret, with a
/// default).
WorkflowDesc echoWf() {
  WorkflowDesc wf;
  wf.name = "echo";
  wf.sourceSha256 = "e1";
  wf.itercVersion = "0.1.0";
  wf.schemas.push_back(schema("copied", {{"text", FieldType::String}}));
  NodeDesc copy;
  copy.kind = NodeKind::Compute;
  copy.name = "copy";
  copy.output = 0;
  copy.exprs.push_back({"text", "vars.diff", [](const Scope &s) {
                          return expr::path(s, RefNs::Vars, {"diff"});
                        }});
  wf.nodes.push_back(copy);
  addTerminals(wf);
  wf.edges.push_back(iterc::rt::test::edge(0, wf.doneIndex()));
  wf.vars.push_back(var("diff", FieldType::String, std::nullopt));
  wf.vars.push_back(var("rounds", FieldType::Int, Json(3)));
  VarDesc level = var("level", FieldType::String, Json("low"));
  level.enumValues = {"low", "high"};
  wf.vars.push_back(level);
  wf.vars.push_back(
      var("token", FieldType::String, Json("sk-hidden-default-77"), true));
  return wf;
}

/// The output `text` of `copy` in a run's `--json` result line.
std::string copiedText(const CliResult &r) {
  // The result is the last line.
  size_t end = r.out.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  size_t start = r.out.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::optional<Json> result = parseJson(r.out.substr(start, end + 1 - start));
  REQUIRE(result.has_value());
  return (*result)["outputs"]["copy"].value("text", std::string("<none>"));
}

} // namespace

TEST_CASE("app docs: BIN --help lists the variables with type, default and "
          "secret mark",
          "[app][docs]") {
  WorkflowDesc wf = echoWf();
  CliResult help = cli(wf, {"--help"});
  REQUIRE(help.code == 0);
  INFO(help.out);
  CHECK(contains(help.out, "variables of this workflow:\n"));
  CHECK(contains(help.out, "  diff    string, required\n"));
  CHECK(contains(help.out, "  rounds  int, default 3\n"));
  CHECK(contains(help.out, "  level   string (one of: low, high), default "
                           "\"low\"\n"));
  CHECK(contains(help.out, "  token   string, secret, has a default\n"));
  CHECK_FALSE(contains(help.out, "sk-hidden-default-77"));
  // The same list as `run --help`.
  CliResult run = cli(wf, {"run", "--help"});
  size_t at = run.out.find("variables of this workflow:\n");
  REQUIRE(at != std::string::npos);
  std::string list = run.out.substr(at, run.out.find("\n\n", at) - at);
  CHECK(contains(help.out, list));
}

TEST_CASE("app docs: resume --help puts the --record note under --record",
          "[app][docs]") {
  CliResult help = cli(echoWf(), {"resume", "--help"});
  REQUIRE(help.code == 0);
  INFO(help.out);
  size_t record = help.out.find("  --record FILE");
  size_t note = help.out.find("(on resume, added to an existing FILE)");
  size_t approve = help.out.find("  --approve TOOL");
  REQUIRE(record != std::string::npos);
  REQUIRE(note != std::string::npos);
  REQUIRE(approve != std::string::npos);
  CHECK(record < note);
  CHECK(note < approve);
}

TEST_CASE("app docs: --var-file gives a variable the file's exact bytes",
          "[app][docs]") {
  WorkflowDesc wf = echoWf();
  TempDir tmp;
  const std::string diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n\n";
  writeText(tmp / "change.diff", diff);
  CliResult r = cli(wf, {"run", "--store-dir", tmp / "store", "--json",
                         "--var-file", "diff=" + (tmp / "change.diff")});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(copiedText(r) == diff);

  // --var wins over --var-file.
  CliResult both =
      cli(wf, {"run", "--store-dir", tmp / "store", "--json", "--var-file",
               "diff=" + (tmp / "change.diff"), "--var", "diff=inline"});
  REQUIRE(both.code == 0);
  CHECK(copiedText(both) == "inline");

  // A file that is missing, not a regular file, or a bad argument: usage
  // errors (2) that name the option, before anything runs.
  REQUIRE(::mkfifo((tmp / "fifo").c_str(), 0600) == 0);
  for (const auto &[arg, says] :
       std::vector<std::pair<std::string, std::string>>{
           {"diff=" + (tmp / "missing.diff"), "No such file or directory"},
           {"diff=" + (tmp / "fifo"), "not a regular file"},
           {"diff=" + tmp.path(), "not a regular file"},
           {"diff", "--var-file expects NAME=PATH"},
           {"nosuch=" + (tmp / "change.diff"), "no variable 'nosuch'"}}) {
    CliResult bad =
        cli(wf, {"run", "--store-dir", tmp / "store", "--var-file", arg});
    INFO("--var-file " << arg << "\n" << bad.err);
    CHECK(bad.code == 2);
    CHECK(contains(bad.err, says));
    CHECK(bad.out.empty());
  }
}

TEST_CASE("app docs: a --var-file over the size limit is refused",
          "[app][docs]") {
  WorkflowDesc wf = echoWf();
  TempDir tmp;
  writeText(tmp / "big", std::string((16u << 20) + 1, 'x'));
  CliResult r = cli(wf, {"run", "--store-dir", tmp / "store", "--var-file",
                         "diff=" + (tmp / "big")});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "larger than 16 MiB"));
}
