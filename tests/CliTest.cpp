//===- CliTest.cpp - The iterc command line, run as a process -------------===//
//
// Runs the real iterc binary (ITERC_BINARY) under `timeout` with real files,
// FIFOs and directories, and checks its output and exit status.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "Frontend/ParseDriver.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <sys/stat.h>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

struct CliResult {
  int status = -1; ///< 124: killed by timeout (it blocked).
  std::string out, err;
};

/// Runs `iterc ARGS` in `dir` with a time limit; stdin is `input` or empty.
CliResult runIterc(const TempDir &dir, const std::string &args,
                   const std::string &input = "", int seconds = 20) {
  writeFile(dir.path / ".stdin", input);
  CliResult r;
  r.status =
      shell("cd " + quote(dir.path) + " && timeout " + std::to_string(seconds) +
            " \"" ITERC_BINARY "\" " + args + " <.stdin >.stdout 2>.stderr");
  r.out = readFile(dir.path / ".stdout");
  r.err = readFile(dir.path / ".stderr");
  return r;
}

const char *ValidWorkflow = "schema out:\n  ok: bool\n\n"
                            "agent a:\n  model: \"openai/gpt-4o-mini\"\n"
                            "  output: out\n\n"
                            "workflow w:\n  entry: a\n  a -> done\n";

/// ok.iter (canonical) and messy.iter (the same with extra spaces) in
/// `dir`; returns messy.iter's text.
std::string writeOkAndMessy(const TempDir &dir) {
  writeFile(dir.path / "ok.iter", ValidWorkflow);
  std::string messy = ValidWorkflow;
  messy.replace(messy.find("  output: out"), 13, "  output:    out");
  writeFile(dir.path / "messy.iter", messy);
  return messy;
}

} // namespace

TEST_CASE("cli: check refuses a FIFO at once instead of blocking", "[cli]") {
  TempDir dir;
  REQUIRE(mkfifo((dir.path / "pipe.iter").c_str(), 0600) == 0);
  CliResult r = runIterc(dir, "check pipe.iter", "", 10);
  INFO(r.err);
  CHECK(r.status == 2);
  CHECK(r.err.find("cannot read 'pipe.iter': not a regular file") !=
        std::string::npos);
  // fmt and graph read the same way.
  CHECK(runIterc(dir, "fmt pipe.iter", "", 10).status == 2);
  CHECK(runIterc(dir, "graph pipe.iter", "", 10).status == 2);
}

TEST_CASE("cli: check refuses a directory and a device", "[cli]") {
  TempDir dir;
  fs::create_directory(dir.path / "sub.iter");
  CliResult r = runIterc(dir, "check sub.iter");
  CHECK(r.status == 2);
  CHECK(r.err.find("cannot read 'sub.iter': it is a directory") !=
        std::string::npos);
  r = runIterc(dir, "check /dev/zero", "", 10);
  CHECK(r.status == 2);
  CHECK(r.err.find("not a regular file") != std::string::npos);
}

TEST_CASE("cli: check - reads standard input", "[cli]") {
  TempDir dir;
  CliResult r = runIterc(dir, "check -", ValidWorkflow);
  INFO(r.err);
  CHECK(r.status == 0);
  std::string misspelt = ValidWorkflow;
  misspelt.replace(misspelt.find("model"), 5, "modle");
  r = runIterc(dir, "check -", misspelt);
  CHECK(r.status == 1);
  CHECK(r.err.find("<stdin>:5:3: error[E012]") != std::string::npos);
}

TEST_CASE("cli: one source size limit, the documented one", "[cli]") {
  // docs/language.md and docs/diagnostics/E006.md state the limit; the
  // reader and the parser use MaxSourceSize.
  CHECK(MaxSourceSize == 64u << 20);
  CHECK(readRepoFile("docs/language.md").find("larger than 64 MiB") !=
        std::string::npos);
  std::string e006 = readRepoFile("docs/diagnostics/E006.md");
  CHECK(e006.find("64 MiB") != std::string::npos);
  CHECK(e006.find("10 MB (") == std::string::npos);
  TempDir dir;
  // A sparse file one byte over the limit: refused before reading.
  fs::path big = dir.path / "big.iter";
  writeFile(big, "");
  fs::resize_file(big, MaxSourceSize + 1);
  CliResult r = runIterc(dir, "check big.iter");
  CHECK(r.status == 2);
  CHECK(r.err.find("file is larger than 64 MiB") != std::string::npos);
  r = runIterc(dir, "check -", std::string(MaxSourceSize + 1, '#'));
  CHECK(r.status == 2);
  CHECK(r.err.find("file is larger than 64 MiB") != std::string::npos);
}

TEST_CASE("cli: check --format=json and sarif survive a cut multibyte "
          "character",
          "[cli]") {
  TempDir dir;
  writeFile(dir.path / "cut.iter",
            readRepoFile("tests/fuzz/regressions/cut-utf8-in-message.iter"));
  for (const char *format : {"json", "sarif"}) {
    CliResult r =
        runIterc(dir, std::string("check --format=") + format + " cut.iter");
    INFO(format << ": " << r.err);
    CHECK(r.status == 1);
    CHECK_NOTHROW(nlohmann::json::parse(r.out));
  }
}

TEST_CASE("cli: a 1 MB line of quotes gives bounded output", "[cli]") {
  TempDir dir;
  std::string source = "schema out:\n  ok: bool\n\n"
                       "tool t:\n  command: \"echo\"\n  output: out\n\n"
                       "workflow w:\n  entry: t\n  t -> done with { x: " +
                       std::string(1 << 20, '"') + " }\n";
  writeFile(dir.path / "long.iter", source);
  CliResult r = runIterc(dir, "check long.iter", "", 60);
  CHECK(r.status == 1);
  CHECK(r.err.size() < 16 * 1024);
  for (const char *format : {"json", "sarif"}) {
    CliResult j = runIterc(
        dir, std::string("check --format=") + format + " long.iter", "", 60);
    CHECK(j.status == 1);
    CHECK(j.out.size() < 64 * 1024);
  }
}

TEST_CASE("cli: --error-limit bounds the diagnostics shown", "[cli]") {
  TempDir dir;
  std::string source;
  for (int i = 0; i < 60; ++i)
    source += "agent a" + std::to_string(i) + ":\n  modle: \"x\"\n";
  writeFile(dir.path / "many.iter",
            withWorkflow(source, "  a0 -> done\n", "a0"));
  CliResult r = runIterc(dir, "check many.iter");
  CHECK(r.status == 1);
  CHECK(r.err.find("more diagnostics not shown (the limit is 50") !=
        std::string::npos);
  r = runIterc(dir, "check --error-limit=0 many.iter");
  CHECK(r.err.find("not shown") == std::string::npos);
  r = runIterc(dir, "check --error-limit=5 many.iter");
  CHECK(r.err.find("not shown (the limit is 5;") != std::string::npos);
  CHECK(runIterc(dir, "check --error-limit=x many.iter").status == 2);
}

TEST_CASE("cli: a misspelt command or option gets the closest one", "[cli]") {
  TempDir dir;
  CliResult r = runIterc(dir, "chek x.iter");
  CHECK(r.status == 2);
  CHECK(r.err.find("unknown command 'chek'; did you mean 'check'?") !=
        std::string::npos);
  r = runIterc(dir, "check --formt=json x.iter");
  CHECK(r.status == 2);
  CHECK(r.err.find("unknown option '--formt=json'; did you mean "
                   "'--format'?") != std::string::npos);
  r = runIterc(dir, "fmt --chek x.iter");
  CHECK(r.err.find("did you mean '--check'?") != std::string::npos);
  r = runIterc(dir, "build --no-cach x.iter");
  CHECK(r.err.find("did you mean '--no-cache'?") != std::string::npos);
  r = runIterc(dir, "--verison");
  CHECK(r.err.find("did you mean '--version'?") != std::string::npos);
  // Nothing close: no guess.
  r = runIterc(dir, "zzzzzz");
  CHECK(r.status == 2);
  CHECK(r.err.find("did you mean") == std::string::npos);
}

TEST_CASE("cli: iterc help CMD is iterc CMD --help; -V is --version", "[cli]") {
  TempDir dir;
  for (const char *command : {"check", "fmt", "graph", "explain", "emit",
                              "build", "run", "diff", "bundle", "unbundle"}) {
    INFO(command);
    CliResult help = runIterc(dir, std::string("help ") + command);
    CliResult flag = runIterc(dir, std::string(command) + " --help");
    CHECK(help.status == 0);
    CHECK(!help.out.empty());
    CHECK(help.out == flag.out);
  }
  CHECK(runIterc(dir, "help").out == runIterc(dir, "--help").out);
  CliResult unknown = runIterc(dir, "help chek");
  CHECK(unknown.status == 2);
  CHECK(unknown.err.find("did you mean 'check'?") != std::string::npos);
  CliResult v = runIterc(dir, "-V");
  CHECK(v.status == 0);
  CHECK(v.out == runIterc(dir, "--version").out);
  CHECK(v.out.rfind("iterc ", 0) == 0);
}

TEST_CASE("cli: build --help's synopsis lists every option", "[cli]") {
  TempDir dir;
  CliResult r = runIterc(dir, "build --help");
  std::string synopsis = r.out.substr(0, r.out.find('\n'));
  for (const char *option : {"-o", "--context", "--no-cache", "--verbose"})
    CHECK(synopsis.find(option) != std::string::npos);
}

TEST_CASE("cli: explain --list prints each code with its title", "[cli]") {
  TempDir dir;
  CliResult r = runIterc(dir, "explain --list");
  CHECK(r.status == 0);
  CHECK(r.out.find("E006   unreadable file\n") != std::string::npos);
  CHECK(r.out.find("C001   unknown node\n") != std::string::npos);
}

TEST_CASE("cli: fmt -d prints a unified diff of what would change", "[cli]") {
  TempDir dir;
  std::string messy = writeOkAndMessy(dir);
  CliResult clean = runIterc(dir, "fmt -d ok.iter");
  CHECK(clean.status == 0);
  CHECK(clean.out.empty());
  CliResult r = runIterc(dir, "fmt --diff messy.iter");
  CHECK(r.status == 1);
  CHECK(r.out.find("--- a/messy.iter\n+++ b/messy.iter\n@@ ") == 0);
  CHECK(r.out.find("\n-  output:    out\n+  output: out\n") !=
        std::string::npos);
  // The file itself is untouched; `patch` applies the diff and gives fmt's
  // output.
  CHECK(readFile(dir.path / "messy.iter") == messy);
  writeFile(dir.path / "fix.patch", r.out);
  if (shell("command -v patch >/dev/null") != 0) {
    WARN("SKIPPED: patch is not installed");
    return;
  }
  REQUIRE(shell("cd " + quote(dir.path) +
                " && patch -s -p1 <fix.patch >/dev/null") == 0);
  CHECK(readFile(dir.path / "messy.iter") == runIterc(dir, "fmt ok.iter").out);
  CHECK(runIterc(dir, "fmt -d -i messy.iter").status == 2);
}

TEST_CASE("cli: fmt --check prints what its help says", "[cli][docs]") {
  TempDir dir;
  writeOkAndMessy(dir);
  CliResult clean = runIterc(dir, "fmt --check ok.iter");
  CHECK(clean.status == 0);
  CHECK(clean.out.empty());
  CliResult r = runIterc(dir, "fmt --check ok.iter messy.iter");
  CHECK(r.status == 1);
  CHECK(r.out == "messy.iter: not canonical\n");
  // The help states that output, with FILE for the name, and the status.
  CliResult help = runIterc(dir, "fmt --help");
  CHECK(help.status == 0);
  INFO("fmt --help:\n" << help.out);
  CHECK(help.out.find("'FILE: not canonical'") != std::string::npos);
  CHECK(help.out.find("print nothing") == std::string::npos);
}
