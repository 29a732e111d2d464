//===- TestUtil.cpp - Helpers shared by iterc's tests ---------------------===//
#include "TestUtil.h"

#include "Driver/Pipeline.h"

#include <fstream>
#include <sstream>

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
  return "schema out:\n  ok: bool\n\n" + decls + "\nworkflow w:\n  entry: " +
         entry + "\n" + edges;
}
