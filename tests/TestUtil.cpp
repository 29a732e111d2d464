//===- TestUtil.cpp - Helpers shared by iterc's tests ---------------------===//
#include "TestUtil.h"

#include "Driver/Pipeline.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc;
using namespace iterc::test;

std::vector<std::string> CheckResult::codes(Severity severity) const {
  std::vector<std::string> out;
  for (const Diagnostic &d : diags)
    if (d.severity == severity)
      out.push_back(d.code);
  return out;
}

std::vector<std::string> CheckResult::allCodes() const {
  std::vector<std::string> out;
  for (const Diagnostic &d : diags)
    if (d.severity != Severity::Note)
      out.push_back(d.code);
  return out;
}

bool CheckResult::hasCode(const std::string &code) const {
  for (const Diagnostic &d : diags)
    if (d.code == code)
      return true;
  return false;
}

std::vector<Diagnostic> CheckResult::withCode(const std::string &code) const {
  std::vector<Diagnostic> out;
  for (const Diagnostic &d : diags)
    if (d.code == code)
      out.push_back(d);
  return out;
}

std::string CheckResult::render(DiagnosticFormat format) const {
  RenderOptions options;
  options.toolVersion = "test";
  return renderDiagnostics(*sources, diags, format, options);
}

CheckResult iterc::test::checkSource(const std::string &text,
                                     const std::string &name, bool runSema) {
  CheckResult result;
  result.sources = std::make_unique<SourceManager>();
  DiagnosticEngine diags(*result.sources);
  unsigned id = result.sources->addBuffer(name, text);
  CompiledFile compiled = compileBuffer(*result.sources, id, diags, runSema);
  result.ast = std::move(compiled.ast);
  result.module = std::move(compiled.module);
  result.diags = diags.getSortedDiagnostics();
  return result;
}

std::string iterc::test::readRepoFile(const std::string &relativePath) {
  std::ifstream in(std::string(ITERC_SOURCE_DIR) + "/" + relativePath,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string iterc::test::withWorkflow(const std::string &decls,
                                      const std::string &edges,
                                      const std::string &entry) {
  return "schema out:\n  ok: bool\n\n" + decls +
         "\nworkflow w:\n  entry: " + entry + "\n" + edges;
}

std::vector<MarkdownFence>
iterc::test::markdownFences(const std::string &markdown) {
  // A fence opens with three or more backticks and closes with a line of at
  // least as many backticks and nothing else, so that a ```` fence can hold
  // ``` lines (a Markdown file shown inside Markdown).
  std::vector<MarkdownFence> fences;
  std::istringstream in(markdown);
  std::string line;
  unsigned lineNo = 0;
  size_t open = 0; // backticks of the open fence; 0 outside one
  MarkdownFence current;
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    size_t ticks = line.find_first_not_of('`');
    if (ticks == std::string::npos)
      ticks = line.size();
    if (open > 0) {
      if (ticks >= open && line.find_first_not_of(' ', ticks) ==
                               std::string::npos) {
        fences.push_back(current);
        open = 0;
        continue;
      }
      current.text += line + "\n";
      continue;
    }
    if (ticks >= 3) {
      open = ticks;
      current = MarkdownFence();
      current.line = lineNo;
      current.info = line.substr(ticks);
      while (!current.info.empty() && current.info.back() == ' ')
        current.info.pop_back();
    }
  }
  return fences;
}

std::string test::readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void test::writeFile(const std::filesystem::path &path,
                     const std::string &text) {
  if (path.has_parent_path())
    std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

test::TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "iterc-test-XXXXXX").string();
  char *made = ::mkdtemp(pattern.data());
  REQUIRE(made != nullptr);
  path = made;
}

test::TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

int test::shell(const std::string &command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string test::quote(const std::filesystem::path &path) {
  std::string out = "'";
  for (char c : path.string())
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
