//===- Diff.h - Semantic and file diffs of two workflows --------*- C++ -*-===//
//
// This file declares what `iterc diff OLD NEW` computes and prints:
//
//   - a line diff (Myers' O((N+M)D) algorithm in linear space) and its
//     unified form with @@ hunks;
//   - the semantic changes between two checked modules: nodes, edges (with
//     their conditions and their order, which decides selection), loops and
//     caps, prompts, schemas and fields, vars, presets, the budget, services
//     and MCP servers, each change located in OLD and/or NEW;
//   - the diff of every generated file;
//   - three renderings: text (optionally coloured), Markdown (for a pull
//     request comment) and JSON (schema in docs/diff.md).
//
// Reading a side (a .iter file, an emit directory, a bundle) and emitting
// its files is the caller's business (CodeGen/DiffInput.h): this file only
// compares two `Side`s, so a new kind of side needs no change here.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TOOLS_DIFF_H
#define ITERC_TOOLS_DIFF_H

#include "Basic/SourceManager.h"
#include "Frontend/Ast.h"
#include "IR/Ir.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterc::diff {

//===----------------------------------------------------------------------===//
// Line diffs
//===----------------------------------------------------------------------===//

struct DiffLine {
  char tag = ' ';         ///< ' ' context, '-' removed, '+' added.
  std::string text;       ///< Without its line break.
  bool noNewline = false; ///< The last line of its file, with no '\n'.
};

struct Hunk {
  unsigned oldStart = 0, oldCount = 0;
  unsigned newStart = 0, newCount = 0;
  std::vector<DiffLine> lines;
};

/// The hunks of a minimal line diff of `a` and `b`, each with up to
/// `context` unchanged lines around its changes (hunks closer than twice
/// that are merged). Empty when the texts are equal.
std::vector<Hunk> diffLines(std::string_view a, std::string_view b,
                            unsigned context = 3);

/// "@@ -l,s +l,s @@" (",s" left out when s is 1, as diff and git do).
std::string hunkHeader(const Hunk &hunk);

/// A unified diff: "--- OLD\n+++ NEW\n" and the hunks; "" when equal.
std::string unifiedDiff(std::string_view a, std::string_view b,
                        const std::string &oldName, const std::string &newName,
                        unsigned context = 3);

//===----------------------------------------------------------------------===//
// The two sides
//===----------------------------------------------------------------------===//

enum class SideKind { Source, EmitDirectory, Bundle };
const char *sideKindName(SideKind kind);

/// One side of a diff: where it came from, its source when known (checked,
/// with its IR) and its generated files.
struct Side {
  std::string label; ///< The path as given; shown in headers.
  SideKind kind = SideKind::Source;
  /// The source path recorded in the generated files (manifest.json).
  std::string recordedPath;
  /// The workflow source, when this side has it.
  std::optional<std::string> sourceText;
  /// Where the source was read from; locations are "sourceLabel:line".
  std::string sourceLabel;
  /// Why the source is absent or was not used ("" when present).
  std::string note;
  /// Generated files by path relative to the output directory.
  std::map<std::string, std::string> files;

  // Set once the source is checked.
  std::unique_ptr<SourceManager> sources;
  unsigned fileId = 0;
  std::unique_ptr<ast::File> ast;
  std::unique_ptr<ir::Module> module;
};

//===----------------------------------------------------------------------===//
// Semantic changes
//===----------------------------------------------------------------------===//

struct Location {
  std::string file;
  unsigned line = 0;
};

enum class ChangeOp { Added, Removed, Changed, Reordered };
const char *changeOpName(ChangeOp op);

/// One semantic change. An added or removed element has a `summary`; a
/// changed one names the `property` and its old and new values (rendered
/// as in the source: strings quoted, references bare, "(none)" when unset).
struct Change {
  ChangeOp op = ChangeOp::Changed;
  std::string section;  ///< "workflow", "nodes", "edges", ... (in order)
  std::string element;  ///< "node", "edge", "field", ...
  std::string name;     ///< "critic", "critic -> writer", "verdict.score"
  std::string property; ///< "" for an added or removed element.
  std::string summary;  ///< Added/removed: what the element is.
  std::optional<std::string> oldValue, newValue;
  std::optional<Location> oldLoc, newLoc;
  /// A diff of a multi-line value (a prompt body, a script): lines
  /// starting with ' ', '-', '+', or "..." between hunks.
  std::vector<std::string> lines;
};

/// The sections in the order they are reported, with their headings.
const std::vector<std::pair<std::string, std::string>> &sections();

/// The semantic changes between two checked sides (both need `module`,
/// `ast` and `sources`). Sections in order; within one, elements in NEW's
/// declaration order, then removed ones in OLD's.
std::vector<Change> compareModules(const Side &oldSide, const Side &newSide);

//===----------------------------------------------------------------------===//
// The whole comparison and its renderings
//===----------------------------------------------------------------------===//

enum class FileStatus { Added, Removed, Modified };
const char *fileStatusName(FileStatus status);

struct FileDiff {
  std::string path;
  FileStatus status = FileStatus::Modified;
  bool binary = false;
  unsigned added = 0, removed = 0;
  std::vector<Hunk> hunks;
};

struct SideInfo {
  std::string label;
  SideKind kind = SideKind::Source;
  std::string recordedPath;
  std::string sourceLabel; ///< "" when the side has no source.
};

struct DiffResult {
  SideInfo oldSide, newSide;
  bool semanticAvailable = false;
  std::string semanticNote; ///< Why the summary is missing.
  bool sourceTextDiffers = false;
  std::vector<Change> changes;
  std::vector<FileDiff> files; ///< Changed files only.

  bool identical() const {
    return changes.empty() && files.empty() && !sourceTextDiffers;
  }
};

/// Compares two sides: semantically when both have a checked module, and
/// file by file (paths sorted, manifest.json last).
DiffResult computeDiff(const Side &oldSide, const Side &newSide,
                       unsigned context = 3);

enum class DiffFormat { Text, Markdown, Json };

struct DiffRenderOptions {
  DiffFormat format = DiffFormat::Text;
  bool color = false; ///< Text only: ANSI colours.
};

std::string renderDiff(const DiffResult &result,
                       const DiffRenderOptions &options);

/// A Markdown code fence longer than every run of backticks in `content`
/// (at least three).
std::string markdownFence(std::string_view content);

} // namespace iterc::diff

#endif // ITERC_TOOLS_DIFF_H
