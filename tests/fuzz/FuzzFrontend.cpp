//===- FuzzFrontend.cpp - libFuzzer target for the whole front end --------===//
//
// Feeds arbitrary bytes to iterc as the contents of a .iter file: the lexer,
// the parser, the AST builder and semantic analysis all run, and the
// diagnostics are then rendered in every format (text with and without
// colour, JSON, SARIF; all of them and the first DefaultDiagnosticLimit).
// Any crash, hang, leak or sanitizer report is a bug, and so is a rendering
// that is not valid UTF-8 or (JSON, SARIF) does not parse back.
//
// Build with -DITERC_BUILD_FUZZERS=ON (clang only); run with scripts/fuzz.
//
//===----------------------------------------------------------------------===//
#include "Basic/Diagnostic.h"
#include "Basic/DiagnosticRenderer.h"
#include "Basic/SourceManager.h"
#include "Basic/Utf8.h"
#include "Driver/Pipeline.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace iterc;

namespace {

/// Renders in `format` and aborts (a finding) when the output is not what
/// every consumer may assume.
void renderAndCheck(const SourceManager &sources,
                    const std::vector<Diagnostic> &diags,
                    DiagnosticFormat format, const RenderOptions &options) {
  std::string out = renderDiagnostics(sources, diags, format, options);
  if (findInvalidUtf8(out) != std::string::npos) {
    std::fprintf(stderr, "rendering is not valid UTF-8\n");
    std::abort();
  }
  if (format != DiagnosticFormat::Text &&
      nlohmann::json::parse(out, nullptr, false).is_discarded()) {
    std::fprintf(stderr, "rendering is not valid JSON\n");
    std::abort();
  }
}

} // namespace

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
  RenderOptions limited = plain;
  limited.maxDiagnostics = DefaultDiagnosticLimit;
  for (DiagnosticFormat format :
       {DiagnosticFormat::Text, DiagnosticFormat::Json,
        DiagnosticFormat::Sarif}) {
    renderAndCheck(sources, sorted, format, plain);
    renderAndCheck(sources, sorted, format, limited);
  }
  renderAndCheck(sources, sorted, DiagnosticFormat::Text, color);
  return 0;
}
