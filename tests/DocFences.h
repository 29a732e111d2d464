//===- DocFences.h - The fenced blocks of the documentation ----*- C++ -*-===//
//
// The docs tests (DocsTest, DocCommandsTest) treat the user documentation
// the way rustdoc treats doc comments: every fenced block is either run or
// explicitly marked as not run. The fence's info string says which:
//
//   ```iter                 a complete file; checks with no errors
//   ```iter check-fails=C023  a complete file; `iterc check` reports C023
//   ```iter file=NAME       also written to NAME in the page's scratch
//                           directory, for the page's commands to use
//   ```sh                   commands run offline in a scratch directory;
//                           exit 0 (or `exit=N`)
//   ```console              a transcript: `$ command` lines run, the lines
//                           under each are its output (`...` elides), and
//                           `$ echo $?` states the previous exit status
//   ```LANG no-run          not run (needs the network, another process,
//                           a fragment of a file, ...)
//   ```text, json, yaml, markdown, mermaid, dot, diff
//                           shown, not run (output, fragments, formats)
//
// A fence without a language, with another language, or a ```text fence
// that holds a `$ command` transcript is an error: a new example has to say
// whether it runs.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_DOCFENCES_H
#define ITERC_TESTS_DOCFENCES_H

#include "TestUtil.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace iterc::test {

struct DocFence {
  std::string file; ///< Relative to the repository ("docs/executable.md").
  unsigned line = 0;
  std::string lang;                           ///< "iter", "sh", "text", ...
  std::set<std::string> flags;                ///< "no-run", ...
  std::map<std::string, std::string> attrs;   ///< "exit" -> "2", ...
  std::string text;

  bool noRun() const { return flags.count("no-run") != 0; }
  std::string where() const { return file + ":" + std::to_string(line); }
};

/// The documentation pages whose fences are run: README.md,
/// bench/README.md and docs/*.md (the pages of docs/diagnostics/ have their
/// own test, DiagnosticCodesTest).
inline std::vector<std::string> docFiles() {
  std::vector<std::string> files = {"README.md", "bench/README.md"};
  std::vector<std::string> docs;
  for (const auto &e : std::filesystem::directory_iterator(
           std::filesystem::path(ITERC_SOURCE_DIR) / "docs"))
    if (e.path().extension() == ".md")
      docs.push_back("docs/" + e.path().filename().string());
  std::sort(docs.begin(), docs.end());
  files.insert(files.end(), docs.begin(), docs.end());
  return files;
}

/// Splits an info string: the language, then flags and NAME=VALUE
/// attributes.
inline DocFence docFence(const std::string &file, const MarkdownFence &f) {
  DocFence d;
  d.file = file;
  d.line = f.line;
  d.text = f.text;
  std::istringstream words(f.info);
  std::string word;
  bool first = true;
  while (words >> word) {
    if (first) {
      d.lang = word;
      first = false;
    } else if (size_t eq = word.find('='); eq != std::string::npos) {
      d.attrs[word.substr(0, eq)] = word.substr(eq + 1);
    } else {
      d.flags.insert(word);
    }
  }
  return d;
}

inline std::vector<DocFence> docFences(const std::string &file,
                                       const std::string &markdown) {
  std::vector<DocFence> fences;
  for (const MarkdownFence &f : markdownFences(markdown))
    fences.push_back(docFence(file, f));
  return fences;
}

/// Why a fence breaks the rules above ("" when it follows them).
inline std::string fenceProblem(const DocFence &f) {
  static const std::set<std::string> shown = {
      "text", "json", "yaml", "markdown", "mermaid", "dot", "diff"};
  static const std::set<std::string> run = {"iter", "sh", "console"};
  if (f.lang.empty())
    return "the fence names no language: use ```iter, ```sh or ```console "
           "(run), ```LANG no-run, or ```text for output";
  if (!shown.count(f.lang) && !run.count(f.lang))
    return "```" + f.lang +
           " is not a language the docs test knows: use iter, sh, console "
           "or one of text, json, yaml, markdown, mermaid, dot, diff";
  for (const std::string &flag : f.flags)
    if (flag != "no-run")
      return "unknown fence flag '" + flag + "'";
  for (const auto &[name, value] : f.attrs)
    if (!((name == "exit" && f.lang == "sh") ||
          (name == "check-fails" && f.lang == "iter") ||
          (name == "file" && f.lang == "iter" &&
           value.find('/') == std::string::npos && !value.empty() &&
           value[0] != '.')))
      return "unknown fence attribute '" + name + "' for ```" + f.lang;
  if (shown.count(f.lang) && !f.noRun()) {
    std::istringstream in(f.text);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("$ ", 0) == 0)
        return "a ```" + f.lang +
               " fence holds a command ('" + line +
               "'): make it ```console (it runs) or ```console no-run";
  }
  return "";
}

} // namespace iterc::test

#endif // ITERC_TESTS_DOCFENCES_H
