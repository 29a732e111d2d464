//===- DiagnosticRenderer.cpp - Text, JSON and SARIF output ---------------===//
//
// This file implements the renderings declared in DiagnosticRenderer.h.
//
//===----------------------------------------------------------------------===//
#include "Basic/DiagnosticRenderer.h"

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
  return sources.getName(fileId) + ":" + std::to_string(lc.line) + ":" +
         std::to_string(lc.column);
}

/// Appends the source line of `range`, a caret line and an optional fix-it
/// line. Tabs are shown as single spaces so that the caret stays aligned.
static void renderSnippet(std::string &out, const SourceManager &sources,
                          unsigned fileId, SourceRange range,
                          const std::vector<FixIt> &fixIts) {
  LineColumn begin = sources.getLineColumn(fileId, range.begin);
  std::string line(sources.getLineText(fileId, begin.line));
  std::replace(line.begin(), line.end(), '\t', ' ');
  unsigned lineWidth = countCodePoints(line);
  unsigned endColumn = begin.column;
  if (range.end > range.begin) {
    LineColumn end = sources.getLineColumn(fileId, range.end);
    endColumn = end.line == begin.line ? end.column : lineWidth + 1;
  }
  out += "    " + line + "\n";
  std::string caret(begin.column - 1, ' ');
  caret += '^';
  for (unsigned c = begin.column + 1; c < endColumn; ++c)
    caret += '~';
  out += "    " + caret + "\n";
  for (const FixIt &fixIt : fixIts) {
    LineColumn at = sources.getLineColumn(fileId, fixIt.range.begin);
    if (at.line != begin.line || fixIt.replacement.find('\n') !=
                                     std::string::npos)
      continue;
    out += "    " + std::string(at.column - 1, ' ') + fixIt.replacement + "\n";
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
  out += std::string(reset) + ": " + bold + diag.message + reset + "\n";
  renderSnippet(out, sources, diag.fileId, diag.range, diag.fixIts);
  for (const DiagNote &note : diag.notes) {
    if (note.hasLocation) {
      out += location(sources, note.fileId, note.range.begin) + ": note: " +
             note.message + "\n";
      renderSnippet(out, sources, note.fileId, note.range, {});
    } else {
      out += sources.getName(diag.fileId) + ": note: " + note.message + "\n";
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
  j["file"] = sources.getName(fileId);
  j["line"] = begin.line;
  j["column"] = begin.column;
  j["end_line"] = end.line;
  j["end_column"] = end.column;
  return j;
}

static json renderJson(const SourceManager &sources,
                       const std::vector<Diagnostic> &diags) {
  json root;
  json list = json::array();
  unsigned errors = 0, warnings = 0;
  for (const Diagnostic &d : diags) {
    if (d.severity == Severity::Error)
      ++errors;
    else if (d.severity == Severity::Warning)
      ++warnings;
    json j;
    j["code"] = d.code;
    j["severity"] = severityName(d.severity);
    json pos = positionJson(sources, d.fileId, d.range);
    for (auto it = pos.begin(); it != pos.end(); ++it)
      j[it.key()] = it.value();
    j["message"] = d.message;
    json notes = json::array();
    for (const DiagNote &n : d.notes) {
      json nj;
      nj["message"] = n.message;
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
      fj["replacement"] = f.replacement;
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
  loc["physicalLocation"]["artifactLocation"]["uri"] = sources.getName(fileId);
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
    r["message"]["text"] = d.message;
    r["locations"] = json::array({sarifLocation(sources, d.fileId, d.range)});
    json related = json::array();
    unsigned noteId = 0;
    for (const DiagNote &n : d.notes) {
      if (!n.hasLocation)
        continue;
      json rl = sarifLocation(sources, n.fileId, n.range);
      rl["id"] = noteId++;
      rl["message"]["text"] = n.message;
      related.push_back(std::move(rl));
    }
    if (!related.empty())
      r["relatedLocations"] = std::move(related);
    if (!d.fixIts.empty()) {
      json replacements = json::array();
      for (const FixIt &f : d.fixIts) {
        json rep;
        rep["deletedRegion"] = sarifRegion(sources, d.fileId, f.range);
        rep["insertedContent"]["text"] = f.replacement;
        replacements.push_back(std::move(rep));
      }
      json change;
      change["artifactLocation"]["uri"] = sources.getName(d.fileId);
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
    a["location"]["uri"] = sources.getName(i);
    artifacts.push_back(std::move(a));
  }
  json run;
  run["tool"]["driver"]["name"] = "iterc";
  run["tool"]["driver"]["version"] = options.toolVersion;
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

std::string iterc::renderDiagnostics(const SourceManager &sources,
                                     const std::vector<Diagnostic> &diags,
                                     DiagnosticFormat format,
                                     const RenderOptions &options) {
  switch (format) {
  case DiagnosticFormat::Text: {
    std::string out;
    for (const Diagnostic &d : diags)
      out += renderTextDiagnostic(sources, d, options.color);
    return out;
  }
  case DiagnosticFormat::Json:
    return renderJson(sources, diags).dump(2) + "\n";
  case DiagnosticFormat::Sarif:
    return renderSarif(sources, diags, options).dump(2) + "\n";
  }
  return {};
}
