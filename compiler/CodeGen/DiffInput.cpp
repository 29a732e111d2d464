//===- DiffInput.cpp - Reading the two sides of iterc diff ----------------===//
//
// This file implements readDiffSide and loadDiffSides.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/DiffInput.h"

#include "Basic/DiagnosticRenderer.h"
#include "CodeGen/Bundle.h"
#include "CodeGen/Emit.h"
#include "Driver/Pipeline.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace iterc;
using namespace iterc::codegen;
namespace fs = std::filesystem;

namespace {

bool readWholeFile(const fs::path &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

/// "a/b" + "c" without doubling the separator.
std::string joinLabel(const std::string &dir, const std::string &rest) {
  if (dir.empty() || dir.back() == '/')
    return dir + rest;
  return dir + "/" + rest;
}

/// A manifest path that stays inside its directory.
bool isSafeRelative(const std::string &path) {
  if (path.empty() || path[0] == '/')
    return false;
  for (const fs::path &part : fs::path(path))
    if (part == "..")
      return false;
  return true;
}

/// An emit directory: manifest.json and the files it lists, plus the
/// source when the directory keeps it under source/.
bool readEmitDirectory(const DiffInputSpec &spec, diff::Side &side,
                       std::string &error) {
  fs::path dir(spec.path);
  std::string manifestText;
  if (!readWholeFile(dir / "manifest.json", manifestText)) {
    error = "not an emit directory (no readable manifest.json)";
    return false;
  }
  nlohmann::json manifest = nlohmann::json::parse(manifestText, nullptr,
                                                  /*allow_exceptions=*/false);
  if (!manifest.is_object() || !manifest["files"].is_array()) {
    error = "manifest.json is not an iterc manifest";
    return false;
  }
  side.kind = diff::SideKind::EmitDirectory;
  side.files["manifest.json"] = manifestText;
  for (const nlohmann::json &file : manifest["files"]) {
    if (!file.is_object() || !file["path"].is_string()) {
      error = "manifest.json lists a file without a path";
      return false;
    }
    std::string path = file["path"].get<std::string>();
    if (!isSafeRelative(path)) {
      error = "manifest.json lists '" + path + "', outside the directory";
      return false;
    }
    std::string content;
    if (!readWholeFile(dir / path, content)) {
      error = "cannot read '" + path + "', listed in its manifest.json";
      return false;
    }
    side.files[path] = std::move(content);
  }

  const nlohmann::json &source = manifest["source"];
  std::string sha;
  if (source.is_object()) {
    if (source["path"].is_string())
      side.recordedPath = source["path"].get<std::string>();
    if (source["sha256"].is_string())
      sha = source["sha256"].get<std::string>();
  }
  if (side.recordedPath.empty())
    return true;
  std::vector<std::string> candidates = {"source/" + side.recordedPath};
  std::string base = fs::path(side.recordedPath).filename().string();
  if (base != side.recordedPath)
    candidates.push_back("source/" + base);
  for (const std::string &candidate : candidates) {
    if (!isSafeRelative(candidate))
      continue;
    std::string text;
    if (!fs::is_regular_file(dir / candidate) ||
        !readWholeFile(dir / candidate, text))
      continue;
    if (sha256Hex(text) != sha) {
      side.note = joinLabel(spec.label, candidate) +
                  " does not match the sha256 in manifest.json";
      continue;
    }
    side.sourceText = std::move(text);
    side.sourceLabel = joinLabel(spec.label, candidate);
    side.note.clear();
    break;
  }
  return true;
}

bool endsWith(const std::string &s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A bundle (either form), verified completely: its source under source/
/// and the files iterc emitted for it.
bool readBundleSide(const DiffInputSpec &spec, std::string_view data,
                    diff::Side &side, std::string &error) {
  BundleError bundleError;
  std::optional<Bundle> bundle = readBundle(data, bundleError);
  std::optional<WorkflowBundle> workflow;
  if (bundle)
    workflow = checkWorkflowBundle(*bundle, bundleError);
  if (!workflow) {
    error = "not a valid workflow bundle: " + bundleError.describe();
    return false;
  }
  side.kind = diff::SideKind::Bundle;
  side.recordedPath = workflow->sourcePath;
  side.sourceText = std::move(workflow->sourceText);
  side.sourceLabel = joinLabel(side.label, std::string(BundleSourceDir) +
                                               workflow->sourcePath);
  for (EmittedFile &f : workflow->emitted)
    side.files[f.path] = std::move(f.content);
  return true;
}

/// Checks a side's source; fills its IR.
bool checkSide(diff::Side &side, bool color, std::string &messages) {
  side.sources = std::make_unique<SourceManager>();
  DiagnosticEngine diags(*side.sources);
  side.fileId = side.sources->addBuffer(side.sourceLabel, *side.sourceText);
  CompiledFile compiled = compileBuffer(*side.sources, side.fileId, diags);
  if (diags.hasErrors() || !compiled.module) {
    RenderOptions render;
    render.toolVersion = iterVersion();
    render.color = color;
    render.maxDiagnostics = DefaultDiagnosticLimit;
    messages += renderDiagnostics(*side.sources, diags.getSortedDiagnostics(),
                                  DiagnosticFormat::Text, render);
    return false;
  }
  side.ast = std::move(compiled.ast);
  side.module = std::move(compiled.module);
  return true;
}

} // namespace

bool codegen::readDiffSide(const DiffInputSpec &spec, diff::Side &side,
                           std::string &error) {
  side = diff::Side();
  side.label = spec.label.empty() ? spec.path : spec.label;
  std::error_code ec;
  if (spec.path != "-" && fs::is_directory(spec.path, ec))
    return readEmitDirectory(spec, side, error);
  std::optional<std::string> text = readSourceFile(spec.path, error);
  if (!text)
    return false;
  // A bundle is recognised as `iterc build` does: by its name or its first
  // line.
  if (spec.path != "-" &&
      (endsWith(spec.path, ".bundle") || endsWith(spec.path, ".bundle.md") ||
       looksLikeBundle(*text)))
    return readBundleSide(spec, *text, side, error);
  side.kind = diff::SideKind::Source;
  side.sourceText = std::move(*text);
  side.sourceLabel = side.label == "-" ? "<stdin>" : side.label;
  return true;
}

bool codegen::loadDiffSides(const DiffInputSpec &oldSpec,
                            const DiffInputSpec &newSpec,
                            const DiffLoadOptions &options, diff::Side &oldSide,
                            diff::Side &newSide, std::string &messages) {
  bool ok = true;
  for (auto [spec, side] :
       {std::pair{&oldSpec, &oldSide}, std::pair{&newSpec, &newSide}}) {
    std::string error;
    if (!readDiffSide(*spec, *side, error)) {
      messages += "iterc: cannot read '" + spec->path + "': " + error + "\n";
      ok = false;
    }
  }
  if (!ok)
    return false;

  // One recorded path for every side that is emitted here.
  std::string recorded = options.sourcePath;
  for (const diff::Side *side : {&oldSide, &newSide})
    if (recorded.empty() && side->kind != diff::SideKind::Source)
      recorded = side->recordedPath;
  for (const diff::Side *side : {&newSide, &oldSide})
    if (recorded.empty() && side->kind == diff::SideKind::Source &&
        side->label != "-")
      recorded = side->label;

  std::optional<Skeletons> skeletons;
  for (diff::Side *side : {&oldSide, &newSide}) {
    if (!side->sourceText)
      continue;
    std::string diagnostics;
    if (!checkSide(*side, options.color, diagnostics)) {
      if (side->kind == diff::SideKind::Source) {
        messages += diagnostics + "iterc: '" + side->label + "' has errors\n";
        ok = false;
        continue;
      }
      // An emitted directory whose source this iterc rejects: compare its
      // files only.
      side->note = side->sourceLabel + " has errors with this iterc";
      side->module.reset();
      side->ast.reset();
      continue;
    }
    if (side->kind != diff::SideKind::Source)
      continue;
    if (!skeletons) {
      std::string error;
      if (options.skeletons)
        skeletons = options.skeletons(error);
      else
        error = "no templates to emit with";
      if (!skeletons) {
        messages += "iterc: error: " + error + "\n";
        return false;
      }
    }
    EmitContext ctx =
        makeEmitContext(*side->module, recorded, *side->sourceText);
    side->recordedPath = ctx.sourcePath;
    for (EmittedFile &f : emitWorkflow(*side->module, ctx, *skeletons))
      side->files[f.path] = std::move(f.content);
  }
  return ok;
}
