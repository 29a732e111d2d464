//===- FuzzFrontend.cpp - libFuzzer target for the whole front end --------===//
//
// Feeds arbitrary bytes to iterc as the contents of a .iter file: the lexer,
// the parser, the AST builder and semantic analysis all run, and the
// diagnostics are then rendered in every format (text with and without
// colour, JSON, SARIF). Any crash, hang, leak or sanitizer report is a bug.
//
// Build with -DITERC_BUILD_FUZZERS=ON (clang only); run with scripts/fuzz.
//
//===----------------------------------------------------------------------===//
#include "Basic/Diagnostic.h"
#include "Basic/DiagnosticRenderer.h"
#include "Basic/SourceManager.h"
#include "Driver/Pipeline.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace iterc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  SourceManager sources;
  DiagnosticEngine diags(sources);
  unsigned fileId = sources.addBuffer(
      "fuzz.iter", std::string(reinterpret_cast<const char *>(data), size));
  CompiledFile compiled = compileBuffer(sources, fileId, diags);
  (void)compiled;

  std::vector<Diagnostic> sorted = diags.getSortedDiagnostics();
  RenderOptions plain;
  plain.toolVersion = "fuzz";
  RenderOptions color = plain;
  color.color = true;
  volatile size_t sink = 0;
  sink += renderDiagnostics(sources, sorted, DiagnosticFormat::Text, plain)
              .size();
  sink += renderDiagnostics(sources, sorted, DiagnosticFormat::Text, color)
              .size();
  sink += renderDiagnostics(sources, sorted, DiagnosticFormat::Json, plain)
              .size();
  sink += renderDiagnostics(sources, sorted, DiagnosticFormat::Sarif, plain)
              .size();
  (void)sink;
  return 0;
}
