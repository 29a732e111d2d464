//===- Diagnostic.cpp - Coded, positioned diagnostics ---------------------===//
//
// This file implements the diagnostic catalogue lookup, the builder that
// collects arguments, and the engine that stores and orders diagnostics.
//
//===----------------------------------------------------------------------===//
#include "Basic/Diagnostic.h"
#include "Basic/Utf8.h"

#include <algorithm>
#include <set>
#include <tuple>

using namespace iterc;

static const DiagInfo diagTable[] = {
#define DIAG(id, severity, code, format)                                       \
  {#id, Severity::severity, code, format},
#include "Basic/DiagnosticKinds.def"
};

const DiagInfo &iterc::getDiagInfo(diag::ID id) { return diagTable[id]; }

std::string iterc::formatDiagnostic(const char *format,
                                    const std::vector<std::string> &args) {
  // Arguments often quote the input (names, strings, tokens), which may be
  // megabytes long: each is cut (never inside a code point) and so is the
  // whole message, so that a diagnostic stays a line or two.
  constexpr size_t MaxArgumentBytes = 1024, MaxMessageBytes = 4096;
  std::string out;
  for (const char *p = format; *p; ++p) {
    if (*p == '{' && p[1] >= '0' && p[1] <= '9' && p[2] == '}') {
      size_t index = p[1] - '0';
      if (index < args.size())
        out += utf8Prefix(args[index], MaxArgumentBytes);
      if (index < args.size() && args[index].size() > MaxArgumentBytes)
        out += "\u2026";
      p += 2;
      continue;
    }
    // "{{" in a format is a literal "{{" (used for template syntax).
    out.push_back(*p);
  }
  if (out.size() > MaxMessageBytes)
    return truncateUtf8(out, MaxMessageBytes, "\u2026");
  return out;
}

DiagnosticBuilder::DiagnosticBuilder(DiagnosticBuilder &&other) noexcept
    : engine(other.engine), diag(std::move(other.diag)),
      args(std::move(other.args)) {
  other.engine = nullptr;
}

DiagnosticBuilder::~DiagnosticBuilder() {
  if (!engine)
    return;
  diag.message = formatDiagnostic(getDiagInfo(diag.id).format, args);
  engine->emit(std::move(diag));
}

DiagnosticBuilder &DiagnosticBuilder::operator<<(std::string_view arg) {
  args.emplace_back(arg);
  return *this;
}

DiagnosticBuilder &DiagnosticBuilder::operator<<(int64_t arg) {
  args.push_back(std::to_string(arg));
  return *this;
}

DiagnosticBuilder &DiagnosticBuilder::operator<<(FixIt fixIt) {
  diag.fixIts.push_back(std::move(fixIt));
  return *this;
}

DiagnosticBuilder &DiagnosticBuilder::note(unsigned fileId, SourceRange range,
                                           diag::ID id,
                                           std::vector<std::string> noteArgs) {
  DiagNote n;
  n.hasLocation = true;
  n.fileId = fileId;
  n.range = range;
  n.message = formatDiagnostic(getDiagInfo(id).format, noteArgs);
  diag.notes.push_back(std::move(n));
  return *this;
}

DiagnosticBuilder &DiagnosticBuilder::note(diag::ID id,
                                           std::vector<std::string> noteArgs) {
  DiagNote n;
  n.message = formatDiagnostic(getDiagInfo(id).format, noteArgs);
  diag.notes.push_back(std::move(n));
  return *this;
}

DiagnosticBuilder DiagnosticEngine::report(unsigned fileId, SourceRange range,
                                           diag::ID id) {
  const DiagInfo &info = getDiagInfo(id);
  Diagnostic d;
  d.id = id;
  d.severity = info.severity;
  d.code = info.code;
  d.fileId = fileId;
  d.range = range;
  return DiagnosticBuilder(*this, std::move(d));
}

void DiagnosticEngine::emit(Diagnostic d) {
  if (d.severity == Severity::Warning && warningsAsErrors)
    d.severity = Severity::Error;
  if (d.severity == Severity::Error)
    ++numErrors;
  else if (d.severity == Severity::Warning)
    ++numWarnings;
  if (diags.size() >= limit) {
    ++numDropped;
    return;
  }
  diags.push_back(std::move(d));
}

std::vector<Diagnostic> DiagnosticEngine::getSortedDiagnostics() const {
  std::vector<Diagnostic> sorted = diags;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Diagnostic &a, const Diagnostic &b) {
                     return std::tie(a.fileId, a.range.begin, a.code,
                                     a.message) <
                            std::tie(b.fileId, b.range.begin, b.code,
                                     b.message);
                   });
  // The same finding reported twice (e.g. through two paths) is shown once.
  sorted.erase(std::unique(sorted.begin(), sorted.end(),
                           [](const Diagnostic &a, const Diagnostic &b) {
                             return a.fileId == b.fileId &&
                                    a.range.begin == b.range.begin &&
                                    a.code == b.code && a.message == b.message;
                           }),
               sorted.end());
  dropEchoesOfSyntaxErrors(sorted);
  return sorted;
}

/// True for the lexical and syntax errors (E001 to E009): where one is, the
/// AST is the parser's guess.
static bool isSyntaxError(const Diagnostic &d) {
  return d.severity == Severity::Error && d.code.size() == 4 &&
         d.code.compare(0, 3, "E00") == 0;
}

void DiagnosticEngine::dropEchoesOfSyntaxErrors(
    std::vector<Diagnostic> &sorted) const {
  // A line with a syntax error gets no other diagnostic: what the checker
  // says about the parser's guess (e.g. a hundred duplicate keys made of a
  // line of quotes) only echoes it. One bad construct, one error.
  std::set<std::pair<unsigned, unsigned>> badLines;
  for (const Diagnostic &d : sorted)
    if (isSyntaxError(d))
      badLines.emplace(d.fileId,
                       sources.getLineColumn(d.fileId, d.range.begin).line);
  if (badLines.empty())
    return;
  sorted.erase(
      std::remove_if(
          sorted.begin(), sorted.end(),
          [&](const Diagnostic &d) {
            return !isSyntaxError(d) &&
                   badLines.count(
                       {d.fileId,
                        sources.getLineColumn(d.fileId, d.range.begin).line});
          }),
      sorted.end());
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and transpositions of adjacent characters each cost one ("modle" is one
/// edit from "model").
static unsigned editDistance(std::string_view a, std::string_view b,
                             unsigned maxDistance) {
  size_t m = b.size();
  std::vector<unsigned> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    unsigned best = cur[0];
    for (size_t j = 1; j <= m; ++j) {
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      best = std::min(best, cur[j]);
    }
    if (best > maxDistance)
      return maxDistance + 1;
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[m];
}

std::string
iterc::closestMatch(std::string_view name,
                    const std::vector<std::string_view> &candidates) {
  // Allow roughly one edit per three characters, as clang's typo correction.
  unsigned maxDistance = std::max<unsigned>(1, name.size() / 3);
  unsigned best = maxDistance + 1;
  std::string_view bestName;
  for (std::string_view candidate : candidates) {
    if (candidate == name)
      continue;
    unsigned d = editDistance(name, candidate, maxDistance);
    if (d < best || (d == best && candidate < bestName)) {
      best = d;
      bestName = candidate;
    }
  }
  return best <= maxDistance ? std::string(bestName) : std::string();
}
