//===- DiagnosticRenderer.cpp - Text, JSON and SARIF output ---------------===//
//
// This file implements the renderings declared in DiagnosticRenderer.h.
//
//===----------------------------------------------------------------------===//
#include "Basic/DiagnosticRenderer.h"

#include "Basic/Utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

using namespace iterc;
using json = nlohmann::ordered_json;

const char *iterc::severityName(Severity severity) {
  switch (severity) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  }
  return "error";
}

static std::string location(const SourceManager &sources, unsigned fileId,
                            uint32_t offset) {
  LineColumn lc = sources.getLineColumn(fileId, offset);
  return escapeInvalidUtf8(sources.getName(fileId)) + ":" +
         std::to_string(lc.line) + ":" + std::to_string(lc.column);
}

namespace {

/// Widest source excerpt shown under a diagnostic, in code points. A longer
/// line is shown as a window around the caret between `…` markers, so that a
/// diagnostic on a 1 MB line costs a few hundred bytes, not a megabyte.
constexpr unsigned MaxSnippetColumns = 120;
/// How much of the window lies before the caret.
constexpr unsigned SnippetColumnsBeforeCaret = 40;
/// Longest fix-it replacement shown in the text form.
constexpr size_t MaxFixItBytes = 120;

bool isContinuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

/// The byte offset `count` code points after (or, for a negative count,
/// before) `from` in `text`, clamped to the text.
size_t moveByCodePoints(std::string_view text, size_t from, long count) {
  size_t pos = std::min(from, text.size());
  for (; count > 0 && pos < text.size(); --count) {
    ++pos;
    while (pos < text.size() && isContinuation(text[pos]))
      ++pos;
  }
  for (; count < 0 && pos > 0; ++count) {
    --pos;
    while (pos > 0 && isContinuation(text[pos]))
      --pos;
  }
  return pos;
}

/// The part of a source line shown under a diagnostic: the displayed text
/// and the byte range [begin, end) of the line that it shows.
struct SnippetWindow {
  size_t begin = 0, end = 0;
  bool cutBefore = false, cutAfter = false;
};

SnippetWindow chooseWindow(std::string_view line, size_t caret) {
  SnippetWindow w;
  w.end = line.size();
  // Bounded work whatever the line's length: this runs for every
  // diagnostic, and thousands may sit on one long line.
  if (moveByCodePoints(line, 0, MaxSnippetColumns) == line.size())
    return w;
  w.begin = moveByCodePoints(line, caret, -long(SnippetColumnsBeforeCaret));
  w.end = moveByCodePoints(line, w.begin, MaxSnippetColumns);
  if (w.end == line.size()) // Near the end: show the last columns in full.
    w.begin = moveByCodePoints(line, w.end, -long(MaxSnippetColumns));
  w.cutBefore = w.begin > 0;
  w.cutAfter = w.end < line.size();
  return w;
}

/// Display width of a piece of source once shown (invalid bytes take the four
/// columns of their `\xNN` form).
unsigned shownWidth(std::string_view text) {
  return countCodePoints(escapeInvalidUtf8(text));
}

} // namespace

/// Appends the source line of `range`, a caret line and an optional fix-it
/// line. Tabs are shown as single spaces so that the caret stays aligned; a
/// long line is cut to a window around the caret.
static void renderSnippet(std::string &out, const SourceManager &sources,
                          unsigned fileId, SourceRange range,
                          const std::vector<FixIt> &fixIts) {
  LineColumn begin = sources.getLineColumn(fileId, range.begin);
  uint32_t lineStart = sources.getLineStart(fileId, begin.line);
  std::string_view line = sources.getLineText(fileId, begin.line);
  auto inLine = [&](uint32_t offset) -> size_t {
    return offset < lineStart
               ? 0
               : std::min<size_t>(offset - lineStart, line.size());
  };
  size_t caret = inLine(range.begin);
  size_t caretEnd = caret;
  if (range.end > range.begin) {
    LineColumn end = sources.getLineColumn(fileId, range.end);
    caretEnd = end.line == begin.line ? inLine(range.end) : line.size();
  }
  SnippetWindow w = chooseWindow(line, caret);
  caret = std::clamp(caret, w.begin, w.end);
  caretEnd = std::clamp(caretEnd, caret, w.end);
  std::string_view text = line;
  const char *ellipsis = "\u2026";
  unsigned lead = w.cutBefore ? 1 : 0;
  std::string shown = escapeInvalidUtf8(text.substr(w.begin, w.end - w.begin));
  std::replace(shown.begin(), shown.end(), '\t', ' ');
  out += "    ";
  if (w.cutBefore)
    out += ellipsis;
  out += shown;
  if (w.cutAfter)
    out += ellipsis;
  out += "\n";
  unsigned caretColumn =
      lead + shownWidth(text.substr(w.begin, caret - w.begin));
  unsigned span = shownWidth(text.substr(caret, caretEnd - caret));
  out += "    " + std::string(caretColumn, ' ') + '^';
  if (span > 1)
    out += std::string(span - 1, '~');
  out += "\n";
  for (const FixIt &fixIt : fixIts) {
    LineColumn at = sources.getLineColumn(fileId, fixIt.range.begin);
    size_t atByte = inLine(fixIt.range.begin);
    if (at.line != begin.line ||
        fixIt.replacement.find('\n') != std::string::npos || atByte < w.begin ||
        atByte > w.end)
      continue;
    unsigned column = lead + shownWidth(text.substr(w.begin, atByte - w.begin));
    out += "    " + std::string(column, ' ') +
           escapeInvalidUtf8(
               truncateUtf8(fixIt.replacement, MaxFixItBytes, ellipsis)) +
           "\n";
  }
}

std::string iterc::renderTextDiagnostic(const SourceManager &sources,
                                        const Diagnostic &diag, bool color) {
  const char *bold = color ? "\033[1m" : "";
  const char *reset = color ? "\033[0m" : "";
  const char *sevColor = "";
  if (color)
    sevColor = diag.severity == Severity::Error     ? "\033[1;31m"
               : diag.severity == Severity::Warning ? "\033[1;35m"
                                                    : "\033[1;36m";
  std::string out;
  out += bold + location(sources, diag.fileId, diag.range.begin) + ": " +
         reset;
  out += sevColor;
  out += severityName(diag.severity);
  if (!diag.code.empty())
    out += "[" + diag.code + "]";
  out += std::string(reset) + ": " + bold + escapeInvalidUtf8(diag.message) +
         reset + "\n";
  renderSnippet(out, sources, diag.fileId, diag.range, diag.fixIts);
  for (const DiagNote &note : diag.notes) {
    if (note.hasLocation) {
      out += location(sources, note.fileId, note.range.begin) +
             ": note: " + escapeInvalidUtf8(note.message) + "\n";
      renderSnippet(out, sources, note.fileId, note.range, {});
    } else {
      out += escapeInvalidUtf8(sources.getName(diag.fileId)) +
             ": note: " + escapeInvalidUtf8(note.message) + "\n";
    }
  }
  return out;
}

static json positionJson(const SourceManager &sources, unsigned fileId,
                         SourceRange range) {
  LineColumn begin = sources.getLineColumn(fileId, range.begin);
  LineColumn end = sources.getLineColumn(fileId, std::max(range.end,
                                                          range.begin));
  json j;
  j["file"] = escapeInvalidUtf8(sources.getName(fileId));
  j["line"] = begin.line;
  j["column"] = begin.column;
  j["end_line"] = end.line;
  j["end_column"] = end.column;
  return j;
}

/// `diags` are the diagnostics shown, `all` those counted.
static json renderJson(const SourceManager &sources,
                       const std::vector<Diagnostic> &diags,
                       const std::vector<Diagnostic> &all) {
  json root;
  json list = json::array();
  unsigned errors = 0, warnings = 0;
  for (const Diagnostic &d : all) {
    if (d.severity == Severity::Error)
      ++errors;
    else if (d.severity == Severity::Warning)
      ++warnings;
  }
  for (const Diagnostic &d : diags) {
    json j;
    j["code"] = d.code;
    j["severity"] = severityName(d.severity);
    json pos = positionJson(sources, d.fileId, d.range);
    for (auto it = pos.begin(); it != pos.end(); ++it)
      j[it.key()] = it.value();
    j["message"] = escapeInvalidUtf8(d.message);
    json notes = json::array();
    for (const DiagNote &n : d.notes) {
      json nj;
      nj["message"] = escapeInvalidUtf8(n.message);
      if (n.hasLocation) {
        json npos = positionJson(sources, n.fileId, n.range);
        for (auto it = npos.begin(); it != npos.end(); ++it)
          nj[it.key()] = it.value();
      }
      notes.push_back(std::move(nj));
    }
    j["notes"] = std::move(notes);
    json fixes = json::array();
    for (const FixIt &f : d.fixIts) {
      json fj = positionJson(sources, d.fileId, f.range);
      fj["replacement"] = escapeInvalidUtf8(f.replacement);
      fixes.push_back(std::move(fj));
    }
    j["fixits"] = std::move(fixes);
    list.push_back(std::move(j));
  }
  root["diagnostics"] = std::move(list);
  root["errors"] = errors;
  root["warnings"] = warnings;
  return root;
}

static json sarifRegion(const SourceManager &sources, unsigned fileId,
                        SourceRange range) {
  LineColumn begin = sources.getLineColumn(fileId, range.begin);
  LineColumn end = sources.getLineColumn(fileId, std::max(range.end,
                                                          range.begin));
  json region;
  region["startLine"] = begin.line;
  region["startColumn"] = begin.column;
  region["endLine"] = end.line;
  region["endColumn"] = end.column;
  return region;
}

static json sarifLocation(const SourceManager &sources, unsigned fileId,
                          SourceRange range) {
  json loc;
  loc["physicalLocation"]["artifactLocation"]["uri"] =
      escapeInvalidUtf8(sources.getName(fileId));
  loc["physicalLocation"]["region"] = sarifRegion(sources, fileId, range);
  return loc;
}

static json renderSarif(const SourceManager &sources,
                        const std::vector<Diagnostic> &diags,
                        const RenderOptions &options) {
  // Rules: one per code used, sorted by code; the description is the
  // catalogue format of the first id with that code.
  std::map<std::string, diag::ID> rulesByCode;
  for (const Diagnostic &d : diags)
    if (!d.code.empty())
      rulesByCode.emplace(d.code, d.id);
  json rules = json::array();
  std::map<std::string, unsigned> ruleIndex;
  for (const auto &[code, id] : rulesByCode) {
    json rule;
    rule["id"] = code;
    rule["name"] = getDiagInfo(id).name;
    rule["shortDescription"]["text"] = getDiagInfo(id).format;
    rule["help"]["text"] = "Run 'iterc explain " + code +
                           "' for an explanation and an example.";
    ruleIndex[code] = rules.size();
    rules.push_back(std::move(rule));
  }
  json results = json::array();
  for (const Diagnostic &d : diags) {
    json r;
    r["ruleId"] = d.code;
    if (ruleIndex.count(d.code))
      r["ruleIndex"] = ruleIndex[d.code];
    r["level"] = severityName(d.severity);
    r["message"]["text"] = escapeInvalidUtf8(d.message);
    r["locations"] = json::array({sarifLocation(sources, d.fileId, d.range)});
    json related = json::array();
    unsigned noteId = 0;
    for (const DiagNote &n : d.notes) {
      if (!n.hasLocation)
        continue;
      json rl = sarifLocation(sources, n.fileId, n.range);
      rl["id"] = noteId++;
      rl["message"]["text"] = escapeInvalidUtf8(n.message);
      related.push_back(std::move(rl));
    }
    if (!related.empty())
      r["relatedLocations"] = std::move(related);
    if (!d.fixIts.empty()) {
      json replacements = json::array();
      for (const FixIt &f : d.fixIts) {
        json rep;
        rep["deletedRegion"] = sarifRegion(sources, d.fileId, f.range);
        rep["insertedContent"]["text"] = escapeInvalidUtf8(f.replacement);
        replacements.push_back(std::move(rep));
      }
      json change;
      change["artifactLocation"]["uri"] =
          escapeInvalidUtf8(sources.getName(d.fileId));
      change["replacements"] = std::move(replacements);
      json fix;
      fix["artifactChanges"] = json::array({std::move(change)});
      r["fixes"] = json::array({std::move(fix)});
    }
    results.push_back(std::move(r));
  }
  json artifacts = json::array();
  for (unsigned i = 0; i < sources.getNumBuffers(); ++i) {
    json a;
    a["location"]["uri"] = escapeInvalidUtf8(sources.getName(i));
    artifacts.push_back(std::move(a));
  }
  json run;
  run["tool"]["driver"]["name"] = "iterc";
  run["tool"]["driver"]["version"] = escapeInvalidUtf8(options.toolVersion);
  run["tool"]["driver"]["rules"] = std::move(rules);
  run["artifacts"] = std::move(artifacts);
  run["results"] = std::move(results);
  run["columnKind"] = "unicodeCodePoints";
  json root;
  root["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json";
  root["version"] = "2.1.0";
  root["runs"] = json::array({std::move(run)});
  return root;
}

/// Every string above is valid UTF-8 (invalid bytes were escaped), so the
/// dump cannot throw; `replace` keeps it so should a string slip through.
static std::string dumpJson(const json &j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string iterc::renderDiagnostics(const SourceManager &sources,
                                     const std::vector<Diagnostic> &all,
                                     DiagnosticFormat format,
                                     const RenderOptions &options) {
  size_t omitted = 0;
  std::vector<Diagnostic> kept;
  const std::vector<Diagnostic> *diags = &all;
  if (options.maxDiagnostics && all.size() > options.maxDiagnostics) {
    omitted = all.size() - options.maxDiagnostics;
    kept.assign(all.begin(), all.begin() + options.maxDiagnostics);
    diags = &kept;
  }
  switch (format) {
  case DiagnosticFormat::Text: {
    std::string out;
    for (const Diagnostic &d : *diags)
      out += renderTextDiagnostic(sources, d, options.color);
    if (omitted)
      out += "iterc: " + std::to_string(omitted) + " more diagnostic" +
             (omitted == 1 ? "" : "s") + " not shown (the limit is " +
             std::to_string(options.maxDiagnostics) +
             "; --error-limit=0 shows all)\n";
    return out;
  }
  case DiagnosticFormat::Json: {
    json root = renderJson(sources, *diags, all);
    if (omitted)
      root["omitted"] = omitted;
    return dumpJson(root);
  }
  case DiagnosticFormat::Sarif: {
    json root = renderSarif(sources, *diags, options);
    if (omitted)
      root["runs"][0]["properties"]["omitted"] = omitted;
    return dumpJson(root);
  }
  }
  return {};
}
