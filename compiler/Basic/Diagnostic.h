//===- Diagnostic.h - Coded, positioned diagnostics -------------*- C++ -*-===//
//
// This file declares the diagnostic engine. Every phase of the compiler takes
// a DiagnosticEngine& and reports through it:
//
//   diags.report(file, range, diag::err_unknown_node) << name
//       << FixIt(range, "reviewer");
//
// Nobody prints or exits: the driver renders the collected diagnostics (text,
// JSON or SARIF, see DiagnosticRenderer.h) once every phase has run.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_BASIC_DIAGNOSTIC_H
#define ITERC_BASIC_DIAGNOSTIC_H

#include "Basic/SourceManager.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iterc {

enum class Severity { Error, Warning, Note };

namespace diag {
enum ID : unsigned {
#define DIAG(id, severity, code, format) id,
#include "Basic/DiagnosticKinds.def"
  NUM_DIAGNOSTICS
};
} // namespace diag

/// Static facts about one diagnostic id.
struct DiagInfo {
  const char *name;
  Severity severity;
  const char *code;
  const char *format;
};
const DiagInfo &getDiagInfo(diag::ID id);

/// A replacement of the text in `range` (insertion when the range is empty).
struct FixIt {
  SourceRange range;
  std::string replacement;
  FixIt(SourceRange range, std::string replacement)
      : range(range), replacement(std::move(replacement)) {}
};

/// A note attached to a diagnostic; it may or may not point at source.
struct DiagNote {
  bool hasLocation = false;
  unsigned fileId = 0;
  SourceRange range;
  std::string message;
};

struct Diagnostic {
  diag::ID id;
  Severity severity;
  std::string code;
  unsigned fileId = 0;
  SourceRange range;
  std::string message;
  std::vector<FixIt> fixIts;
  std::vector<DiagNote> notes;
};

class DiagnosticEngine;

/// Collects the arguments of one diagnostic; the diagnostic is finalised
/// when the builder goes out of scope.
class DiagnosticBuilder {
public:
  DiagnosticBuilder(DiagnosticEngine &engine, Diagnostic diag)
      : engine(&engine), diag(std::move(diag)) {}
  DiagnosticBuilder(DiagnosticBuilder &&other) noexcept;
  DiagnosticBuilder(const DiagnosticBuilder &) = delete;
  DiagnosticBuilder &operator=(const DiagnosticBuilder &) = delete;
  ~DiagnosticBuilder();

  DiagnosticBuilder &operator<<(std::string_view arg);
  DiagnosticBuilder &operator<<(const std::string &arg) {
    return *this << std::string_view(arg);
  }
  DiagnosticBuilder &operator<<(const char *arg) {
    return *this << std::string_view(arg);
  }
  DiagnosticBuilder &operator<<(int64_t arg);
  DiagnosticBuilder &operator<<(int arg) { return *this << int64_t(arg); }
  DiagnosticBuilder &operator<<(unsigned arg) { return *this << int64_t(arg); }
  DiagnosticBuilder &operator<<(size_t arg) { return *this << int64_t(arg); }
  DiagnosticBuilder &operator<<(FixIt fixIt);
  /// Attaches a note; `id` must be a Note diagnostic.
  DiagnosticBuilder &note(unsigned fileId, SourceRange range, diag::ID id,
                          std::vector<std::string> args = {});
  DiagnosticBuilder &note(diag::ID id, std::vector<std::string> args = {});

private:
  DiagnosticEngine *engine;
  Diagnostic diag;
  std::vector<std::string> args;
};

class DiagnosticEngine {
public:
  explicit DiagnosticEngine(const SourceManager &sources) : sources(sources) {}

  DiagnosticBuilder report(unsigned fileId, SourceRange range, diag::ID id);

  /// Turn warnings into errors (-Werror).
  void setWarningsAsErrors(bool value) { warningsAsErrors = value; }

  bool hasErrors() const { return numErrors > 0; }
  unsigned getNumErrors() const { return numErrors; }
  unsigned getNumWarnings() const { return numWarnings; }

  /// Diagnostics in a deterministic order: by file, then position, then code,
  /// then message. Reporting order does not matter. A line with a syntax
  /// error (E001-E009) shows only its syntax errors.
  std::vector<Diagnostic> getSortedDiagnostics() const;
  const std::vector<Diagnostic> &getDiagnostics() const { return diags; }
  const SourceManager &getSourceManager() const { return sources; }

  /// Adds an already-built diagnostic (e.g. from a per-thread engine).
  void add(Diagnostic diag) { emit(std::move(diag)); }

  /// Caps how many diagnostics are kept (the rest are counted only).
  void setLimit(unsigned limit) { this->limit = limit; }
  unsigned getNumDropped() const { return numDropped; }

private:
  friend class DiagnosticBuilder;
  void emit(Diagnostic diag);
  void dropEchoesOfSyntaxErrors(std::vector<Diagnostic> &sorted) const;

  const SourceManager &sources;
  std::vector<Diagnostic> diags;
  bool warningsAsErrors = false;
  unsigned numErrors = 0;
  unsigned numWarnings = 0;
  unsigned limit = 10000;
  unsigned numDropped = 0;
};

/// Substitutes {0}, {1}, ... in a catalogue format. Arguments are inserted
/// verbatim; they are never themselves parsed as formats.
std::string formatDiagnostic(const char *format,
                             const std::vector<std::string> &args);

/// The declared name closest to `name`, or "" when none is close enough to
/// be a likely typo.
std::string closestMatch(std::string_view name,
                         const std::vector<std::string_view> &candidates);

} // namespace iterc

#endif // ITERC_BASIC_DIAGNOSTIC_H
