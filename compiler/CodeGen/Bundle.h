//===- Bundle.h - A workflow and its emitted files in one file --*- C++ -*-===//
//
// This file declares the bundle format of `iterc bundle`, `iterc unbundle`
// and `iterc build X.bundle` (docs/bundle.md). A bundle is a list of files
// (path and bytes) in two forms:
//
//  - binary: a header line, then per file a line with its length, sha256
//    and path followed by exactly that many raw bytes, then a digest line.
//    Lossless for any bytes.
//  - markdown: one document for review; per file a heading with its path, a
//    line with its length, sha256 and encoding, and a fence longer than any
//    run of backticks in the file. Text that Markdown carries unchanged is
//    shown as is; anything else (NUL, CR, invalid UTF-8, ...) is base64.
//
// Both forms are a pure function of the files: the reader re-renders what
// it parsed and accepts only the exact bytes the writer would produce, so
// what a reviewer sees in the Markdown form is exactly what is restored.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_BUNDLE_H
#define ITERC_CODEGEN_BUNDLE_H

#include "CodeGen/Emit.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterc::codegen {

/// The format version this iterc writes and the only one it reads.
constexpr int BundleFormatVersion = 1;

enum class BundleForm { Binary, Markdown };

/// Why a bundle was refused or cannot be written.
struct BundleError {
  std::string file;    ///< The bundled file concerned; empty if none.
  std::string message; ///< What is wrong, without the file's name.

  /// "file 'F': message", or the message alone.
  std::string describe() const;
};

/// A bundle's files in canonical order: sorted by path (bytewise), except
/// that manifest.json, when present, comes last.
struct Bundle {
  BundleForm form = BundleForm::Binary;
  std::vector<EmittedFile> files;
};

/// Why `path` cannot name a bundled file, or "" when it can: a relative
/// path of UTF-8 components, none empty, "." or "..", without control
/// characters, '\\' or '`', not starting or ending with a space.
std::string checkBundlePath(std::string_view path);

/// True when `a` comes before `b` in a bundle.
bool bundleOrderLess(const std::string &a, const std::string &b);

/// The bundle digest: sha256 of the lines "<bytes> <sha256> <path>\n", one
/// per file in bundle order. The same for both forms of a bundle.
std::string bundleDigest(const std::vector<EmittedFile> &files);

/// True when Markdown carries `content` unchanged inside a fence: valid
/// UTF-8 without NUL, CR or other control characters except tab and LF.
bool isMarkdownText(std::string_view content);

/// Writes `files` (put into canonical order first) as a bundle. Fails on
/// an invalid, duplicate or conflicting path.
std::optional<std::string> writeBundle(std::vector<EmittedFile> files,
                                       BundleForm form, BundleError &error);

/// True when `data` starts like a bundle of either form (any version).
bool looksLikeBundle(std::string_view data);

/// Reads a bundle of either form and verifies it completely: the version,
/// every length and sha256, every path, the order, the digest and the
/// canonical form.
std::optional<Bundle> readBundle(std::string_view data, BundleError &error);

/// Where a workflow bundle holds its source: "source/" + recorded path.
inline constexpr std::string_view BundleSourceDir = "source/";

/// A bundle of one workflow: the source and what iterc emitted for it.
struct WorkflowBundle {
  std::string sourcePath;   ///< The recorded path, e.g. examples/a.iter.
  std::string sourceText;   ///< Its bytes.
  std::string itercVersion; ///< The iterc that emitted the files.
  std::string program;      ///< The program name.
  /// Every emitted file as `iterc emit` writes it, manifest.json last.
  std::vector<EmittedFile> emitted;
};

/// The files of a workflow bundle: `emitted` (as emitWorkflow returns them)
/// and the source under source/<recorded path>.
std::vector<EmittedFile>
workflowBundleFiles(const std::vector<EmittedFile> &emitted,
                    const std::string &recordedSourcePath,
                    const std::string &sourceText);

/// Checks that a verified bundle holds exactly one workflow: one source
/// under source/, a manifest.json naming that source with its sha256, and
/// exactly the files the manifest lists, with the lengths and sha256 it
/// gives.
std::optional<WorkflowBundle> checkWorkflowBundle(const Bundle &bundle,
                                                  BundleError &error);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_BUNDLE_H
