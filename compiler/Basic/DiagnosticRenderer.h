//===- DiagnosticRenderer.h - Text, JSON and SARIF output -------*- C++ -*-===//
//
// This file declares the three renderings of a diagnostic list: the human
// text form with source line, caret and fix-it; one JSON object for tools;
// and SARIF 2.1.0 for code-scanning integrations. All three are pure
// functions of the diagnostics and the sources, so their output is stable.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_BASIC_DIAGNOSTICRENDERER_H
#define ITERC_BASIC_DIAGNOSTICRENDERER_H

#include "Basic/Diagnostic.h"

#include <string>
#include <vector>

namespace iterc {

enum class DiagnosticFormat { Text, Json, Sarif };

struct RenderOptions {
  bool color = false;
  std::string toolVersion;
  /// Shows at most this many diagnostics (0: all); the rest are counted in
  /// a closing line (text) or an "omitted" member (JSON, SARIF), like
  /// clang's -ferror-limit. The error and warning totals still count all.
  unsigned maxDiagnostics = 0;
};

/// The limit the command line applies unless told otherwise.
constexpr unsigned DefaultDiagnosticLimit = 50;

/// Renders `diags` (already sorted) in the given format.
std::string renderDiagnostics(const SourceManager &sources,
                              const std::vector<Diagnostic> &diags,
                              DiagnosticFormat format,
                              const RenderOptions &options);

/// Renders one diagnostic in the text form (used by the text renderer and by
/// tests).
std::string renderTextDiagnostic(const SourceManager &sources,
                                 const Diagnostic &diag, bool color = false);

const char *severityName(Severity severity);

} // namespace iterc

#endif // ITERC_BASIC_DIAGNOSTICRENDERER_H
