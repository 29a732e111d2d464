//===- TestUtil.h - Helpers shared by iterc's tests -------------*- C++ -*-===//
//
// Runs the front end on a string in memory and exposes what it produced:
// the diagnostics (sorted), their codes, the AST and the IR.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_TESTUTIL_H
#define ITERC_TESTS_TESTUTIL_H

#include "Basic/Diagnostic.h"
#include "Basic/DiagnosticRenderer.h"
#include "Frontend/Ast.h"
#include "IR/Ir.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace iterc::test {

struct CheckResult {
  std::unique_ptr<SourceManager> sources;
  std::vector<Diagnostic> diags;
  std::unique_ptr<ast::File> ast;
  std::unique_ptr<ir::Module> module;

  /// Codes of every diagnostic of the given severity, in order.
  std::vector<std::string> codes(Severity severity = Severity::Error) const;
  /// Codes of errors and warnings.
  std::vector<std::string> allCodes() const;
  bool hasCode(const std::string &code) const;
  /// The diagnostics with this code (notes such as C141 stay out of the way).
  std::vector<Diagnostic> withCode(const std::string &code) const;
  /// The diagnostics rendered in a format (text has no colour).
  std::string render(DiagnosticFormat format = DiagnosticFormat::Text) const;
};

/// Parses and checks `text` as if it were the file `name`.
CheckResult checkSource(const std::string &text,
                        const std::string &name = "test.iter",
                        bool runSema = true);

/// Reads a file of the source tree (path relative to the repository root).
std::string readRepoFile(const std::string &relativePath);

/// A file's bytes ("" when it cannot be read).
std::string readFile(const std::filesystem::path &path);
/// Writes bytes, creating the parent directories.
void writeFile(const std::filesystem::path &path, const std::string &text);

/// A unique empty directory under the temporary directory, removed with
/// everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
};

/// Runs a shell command; its exit status (-1 when it did not exit).
int shell(const std::string &command);
/// A path single-quoted for the shell.
std::string quote(const std::filesystem::path &path);

/// A fenced code block of a Markdown document.
struct MarkdownFence {
  unsigned line = 0; ///< 1-based line of the opening fence.
  std::string info;  ///< The info string ("iter", "iter wrong", ...).
  std::string text;  ///< The body, each line ending with "\n".
};

/// Every ``` fence of `markdown`, in order.
std::vector<MarkdownFence> markdownFences(const std::string &markdown);

/// Wraps node declarations in a minimal valid file: the text is inserted
/// after a schema `out` (ok: bool) and before `workflow`.
std::string withWorkflow(const std::string &decls, const std::string &edges,
                         const std::string &entry);

} // namespace iterc::test

#endif // ITERC_TESTS_TESTUTIL_H
