//===- iterc.cpp - The iterc command-line driver --------------------------===//
//
// This file implements `iterc`, a thin dispatcher over subcommands. Exit
// codes: 0 success, 1 the input has errors (or, for `fmt --check`, is not
// canonical), 2 usage error or unreadable input.
//
//===----------------------------------------------------------------------===//
#include "Basic/DiagnosticRenderer.h"
#include "Driver/Build.h"
#include "Driver/BundleCmd.h"
#include "Driver/DiffCmd.h"
#include "Driver/Exit.h"
#include "Driver/Pipeline.h"
#include "Driver/ReplaceFile.h"
#include "Tools/Diff.h"
#include "Tools/Explain.h"
#include "Tools/Formatter.h"
#include "Tools/GraphPrinter.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace iterc;

namespace {

constexpr int ExitOk = 0;
constexpr int ExitErrors = 1;
constexpr int ExitUsage = 2;

const char *mainHelp =
    "iterc - compile .iter LLM workflows into standalone executables\n"
    "\n"
    "usage: iterc <command> [options] FILE...\n"
    "\n"
    "commands:\n"
    "  check     check workflows and report every diagnostic\n"
    "  fmt       print a workflow in canonical form (-i to rewrite in place)\n"
    "  graph     print the workflow graph (Mermaid or DOT)\n"
    "  explain   explain a diagnostic code, e.g. 'iterc explain C019'\n"
    "  emit      write the generated C++, CMake, Dockerfile, compose file,\n"
    "            README and manifest for a workflow\n"
    "  build     compile a workflow into one static executable (cached)\n"
    "  run       build (cached) and run a workflow: iterc run F -- ARGS\n"
    "  diff      compare two workflows (.iter, emit directory or bundle):\n"
    "            semantic changes, then the diff of each generated file\n"
    "  bundle    one file with the source, generated files and manifest\n"
    "  unbundle  verify a bundle and restore its files into a directory\n"
    "\n"
    "options:\n"
    "  -h, --help     show help (also 'iterc help <command>' or\n"
    "                 'iterc <command> --help')\n"
    "  -V, --version  print the version\n"
    "\n"
    "exit status: 0 success, 1 errors in the input, 2 usage or I/O error\n";

const char *checkHelp =
    "usage: iterc check [--format=text|json|sarif] [-Werror] [--color] "
    "FILE...\n"
    "\n"
    "Parses and checks each FILE ('-' reads standard input) and reports every\n"
    "error and warning, in source order.\n"
    "\n"
    "  --format=text   file:line:col: error[CODE]: message, with the source\n"
    "                  line and a caret (default)\n"
    "  --format=json   one JSON object with a 'diagnostics' array\n"
    "  --format=sarif  SARIF 2.1.0, for code-scanning tools\n"
    "  -Werror         treat warnings as errors\n"
    "  --color         colour the text output (default: when a terminal)\n"
    "  --no-color      never colour\n"
    "  --time          print how long parsing and checking took\n"
    "  --error-limit=N show at most N diagnostics (default 50, 0: all); the\n"
    "                  totals still count every one\n"
    "\n"
    "exit status: 0 no errors, 1 errors found, 2 usage or unreadable file\n";

struct CommonOptions {
  DiagnosticFormat format = DiagnosticFormat::Text;
  bool werror = false;
  int color = -1;
  bool timePhases = false;
  unsigned errorLimit = DefaultDiagnosticLimit;
  std::vector<std::string> files;
};

bool startsWith(const char *s, const char *prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

/// A non-negative decimal count, or nothing when `text` is not one.
std::optional<unsigned> parseCount(const char *text) {
  unsigned value = 0;
  if (!*text)
    return std::nullopt;
  for (const char *p = text; *p; ++p) {
    if (*p < '0' || *p > '9' || value > 100000000)
      return std::nullopt;
    value = value * 10 + unsigned(*p - '0');
  }
  return value;
}

int usageError(const std::string &message, const char *command) {
  std::fprintf(stderr, "iterc: %s\n", message.c_str());
  std::fprintf(stderr, "run 'iterc %s--help' for usage\n",
               command ? (std::string(command) + " ").c_str() : "");
  return ExitUsage;
}

int runCheck(int argc, char **argv) {
  CommonOptions opts;
  for (int i = 0; i < argc; ++i) {
    const char *arg = argv[i];
    if (!std::strcmp(arg, "-h") || !std::strcmp(arg, "--help")) {
      std::fputs(checkHelp, stdout);
      return ExitOk;
    }
    bool formatFlag = startsWith(arg, "--format=");
    if (formatFlag || (!std::strcmp(arg, "--format") && i + 1 < argc)) {
      std::string f = formatFlag ? std::string(arg + 9) : argv[++i];
      if (f == "text")
        opts.format = DiagnosticFormat::Text;
      else if (f == "json")
        opts.format = DiagnosticFormat::Json;
      else if (f == "sarif")
        opts.format = DiagnosticFormat::Sarif;
      else
        return usageError("unknown format '" + f +
                              "'; expected text, json or sarif",
                          "check");
    } else if (!std::strcmp(arg, "-Werror")) {
      opts.werror = true;
    } else if (!std::strcmp(arg, "--color")) {
      opts.color = 1;
    } else if (!std::strcmp(arg, "--no-color")) {
      opts.color = 0;
    } else if (!std::strcmp(arg, "--time")) {
      opts.timePhases = true;
    } else if (startsWith(arg, "--error-limit=")) {
      std::optional<unsigned> limit = parseCount(arg + 14);
      if (!limit)
        return usageError(std::string("invalid limit in '") + arg +
                              "'; expected a number (0: no limit)",
                          "check");
      opts.errorLimit = *limit;
    } else if (arg[0] == '-' && arg[1] != '\0') {
      return usageError(driver::unknownOption(
                            arg, {"--help", "--format", "-Werror", "--color",
                                  "--no-color", "--time", "--error-limit"}),
                        "check");
    } else {
      opts.files.push_back(arg);
    }
  }
  if (opts.files.empty())
    return usageError("no input files", "check");

  SourceManager sources;
  DiagnosticEngine diags(sources);
  diags.setWarningsAsErrors(opts.werror);
  bool unreadable = false;
  for (const std::string &path : opts.files) {
    std::string error;
    std::optional<std::string> text = readSourceFile(path, error);
    if (!text) {
      std::fprintf(stderr, "iterc: cannot read '%s': %s\n", path.c_str(),
                   error.c_str());
      unreadable = true;
      continue;
    }
    unsigned id = sources.addBuffer(path == "-" ? "<stdin>" : path,
                                    std::move(*text));
    CompiledFile compiled = compileBuffer(sources, id, diags);
    if (opts.timePhases)
      std::fprintf(stderr, "%s: parse %.3f s, check %.3f s\n", path.c_str(),
                   compiled.times.parse, compiled.times.sema);
  }
  RenderOptions render;
  render.toolVersion = iterVersion();
  render.maxDiagnostics = opts.errorLimit;
  render.color = opts.color == 1 ||
                 (opts.color == -1 && opts.format == DiagnosticFormat::Text &&
                  isatty(STDERR_FILENO));
  std::vector<Diagnostic> sorted = diags.getSortedDiagnostics();
  std::string out = renderDiagnostics(sources, sorted, opts.format, render);
  if (opts.format == DiagnosticFormat::Text) {
    std::fputs(out.c_str(), stderr);
    // The totals count what is reported (as the JSON's do), every one even
    // beyond --error-limit.
    unsigned errors = 0, warnings = 0;
    for (const Diagnostic &d : sorted) {
      errors += d.severity == Severity::Error;
      warnings += d.severity == Severity::Warning;
    }
    if (errors || warnings)
      std::fprintf(stderr, "%u error%s, %u warning%s\n", errors,
                   errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
  } else {
    std::fputs(out.c_str(), stdout);
  }
  if (unreadable)
    return ExitUsage;
  return diags.hasErrors() ? ExitErrors : ExitOk;
}

const char *fmtHelp =
    "usage: iterc fmt [-i | --check | -d] FILE...\n"
    "\n"
    "Prints each FILE in canonical form. Comments are kept; formatting is\n"
    "idempotent and never changes what a file means. A file with syntax\n"
    "errors is left alone and its errors are reported.\n"
    "\n"
    "  -i        rewrite the files in place\n"
    "  --check   print 'FILE: not canonical' for each file that is not;\n"
    "            exit 1 when one is\n"
    "  -d, --diff  print a unified diff of what would change (nothing for a\n"
    "            canonical file); exit 1 when a file is not canonical\n";

const char *graphHelp =
    "usage: iterc graph [--format=mermaid|dot] FILE\n"
    "\n"
    "Prints the workflow graph: nodes by kind, conditions on edges, loops\n"
    "(dashed) with their caps, convergence points with their strategy.\n"
    "\n"
    "  --format=mermaid   a Mermaid flowchart (default)\n"
    "  --format=dot       Graphviz DOT\n";

const char *explainHelp =
    "usage: iterc explain CODE\n"
    "       iterc explain --list\n"
    "\n"
    "Explains a diagnostic code (e.g. C019 or E003) with an example that\n"
    "triggers it and the corrected version. --list prints every code with\n"
    "its title.\n";

/// Reads and parses one file for fmt/graph; prints diagnostics on failure.
bool loadFile(const std::string &path, SourceManager &sources,
              DiagnosticEngine &diags, CompiledFile &out, bool runSema) {
  std::string error;
  std::optional<std::string> text = readSourceFile(path, error);
  if (!text) {
    std::fprintf(stderr, "iterc: cannot read '%s': %s\n", path.c_str(),
                 error.c_str());
    return false;
  }
  unsigned id =
      sources.addBuffer(path == "-" ? "<stdin>" : path, std::move(*text));
  out = compileBuffer(sources, id, diags, runSema);
  return true;
}

void printDiagnostics(const SourceManager &sources,
                      const DiagnosticEngine &diags) {
  RenderOptions render;
  render.toolVersion = iterVersion();
  render.maxDiagnostics = DefaultDiagnosticLimit;
  render.color = isatty(STDERR_FILENO);
  std::fputs(renderDiagnostics(sources, diags.getSortedDiagnostics(),
                               DiagnosticFormat::Text, render)
                 .c_str(),
             stderr);
}

int runFmt(int argc, char **argv) {
  bool inPlace = false, check = false, showDiff = false;
  std::vector<std::string> files;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(fmtHelp, stdout);
      return ExitOk;
    }
    if (arg == "-i")
      inPlace = true;
    else if (arg == "--check")
      check = true;
    else if (arg == "-d" || arg == "--diff")
      showDiff = true;
    else if (arg.size() > 1 && arg[0] == '-')
      return usageError(
          driver::unknownOption(arg, {"--help", "--check", "--diff"}), "fmt");
    else
      files.push_back(arg);
  }
  if (files.empty())
    return usageError("no input files", "fmt");
  if (int(inPlace) + int(check) + int(showDiff) > 1)
    return usageError("-i, --check and --diff cannot be combined", "fmt");
  int status = ExitOk;
  for (const std::string &path : files) {
    SourceManager sources;
    DiagnosticEngine diags(sources);
    CompiledFile compiled;
    if (!loadFile(path, sources, diags, compiled, /*runSema=*/false)) {
      status = ExitUsage;
      continue;
    }
    if (!compiled.ast || diags.hasErrors()) {
      printDiagnostics(sources, diags);
      std::fprintf(stderr, "iterc: '%s' has syntax errors; not formatted\n",
                   path.c_str());
      status = std::max(status, ExitErrors);
      continue;
    }
    std::string formatted = formatFile(*compiled.ast, sources);
    std::string_view original = sources.getText(compiled.fileId);
    if (showDiff) {
      // a/ and b/ as git writes them, so that `git apply` takes the diff.
      std::string name = path == "-" ? "<stdin>" : path;
      std::string patch =
          diff::unifiedDiff(original, formatted, "a/" + name, "b/" + name);
      std::fputs(patch.c_str(), stdout);
      if (!patch.empty())
        status = std::max(status, ExitErrors);
      continue;
    }
    if (check) {
      if (formatted != original) {
        std::printf("%s: not canonical\n", path.c_str());
        status = std::max(status, ExitErrors);
      }
      continue;
    }
    if (inPlace && path != "-") {
      if (formatted == original)
        continue;
      std::string error;
      if (!replaceFileContent(path, formatted, error)) {
        std::fprintf(stderr, "iterc: %s\n", error.c_str());
        status = ExitUsage;
      }
      continue;
    }
    std::fputs(formatted.c_str(), stdout);
  }
  return status;
}

int runGraph(int argc, char **argv) {
  GraphFormat format = GraphFormat::Mermaid;
  std::vector<std::string> files;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(graphHelp, stdout);
      return ExitOk;
    }
    if (arg == "--format=mermaid")
      format = GraphFormat::Mermaid;
    else if (arg == "--format=dot")
      format = GraphFormat::Dot;
    else if (arg.rfind("--format=", 0) == 0)
      return usageError("unknown format '" + arg.substr(9) +
                            "'; expected mermaid or dot",
                        "graph");
    else if (arg.size() > 1 && arg[0] == '-')
      return usageError(driver::unknownOption(arg, {"--help", "--format"}),
                        "graph");
    else
      files.push_back(arg);
  }
  if (files.size() != 1)
    return usageError("graph takes exactly one file", "graph");
  SourceManager sources;
  DiagnosticEngine diags(sources);
  CompiledFile compiled;
  if (!loadFile(files[0], sources, diags, compiled, /*runSema=*/true))
    return ExitUsage;
  if (diags.hasErrors() || !compiled.module) {
    printDiagnostics(sources, diags);
    return ExitErrors;
  }
  std::fputs(printGraph(*compiled.module, format).c_str(), stdout);
  return ExitOk;
}

int runExplain(int argc, char **argv) {
  if (argc == 1 && (!std::strcmp(argv[0], "-h") ||
                    !std::strcmp(argv[0], "--help"))) {
    std::fputs(explainHelp, stdout);
    return ExitOk;
  }
  if (argc == 1 && !std::strcmp(argv[0], "--list")) {
    for (const std::string &code : explainedCodes())
      std::printf("%-6s %s\n", code.c_str(), explanationTitle(code).c_str());
    return ExitOk;
  }
  if (argc != 1)
    return usageError("explain takes one diagnostic code", "explain");
  std::string code = argv[0];
  for (char &c : code)
    c = std::toupper(static_cast<unsigned char>(c));
  if (const char *text = findExplanation(code)) {
    std::fputs(text, stdout);
    return ExitOk;
  }
  std::fprintf(stderr, "iterc: no explanation for '%s'; 'iterc explain "
                       "--list' lists the codes\n",
               argv[0]);
  return ExitUsage;
}

} // namespace

namespace {

using CommandFn = int (*)(int, char **);

struct Command {
  const char *name;
  CommandFn run;
};

const Command Commands[] = {{"check", runCheck},   {"fmt", runFmt},
                            {"graph", runGraph},   {"explain", runExplain},
                            {"emit", runEmit},     {"build", runBuild},
                            {"run", runRun},       {"diff", runDiff},
                            {"bundle", runBundle}, {"unbundle", runUnbundle}};

const Command *findCommand(std::string_view name) {
  for (const Command &c : Commands)
    if (name == c.name)
      return &c;
  return nullptr;
}

std::vector<std::string_view> commandNames() {
  std::vector<std::string_view> names = {"help", "version"};
  for (const Command &c : Commands)
    names.push_back(c.name);
  return names;
}

/// `iterc help [CMD]`: the main help, or the same as `iterc CMD --help`.
int runHelpCommand(int argc, char **argv) {
  if (argc == 0) {
    std::fputs(mainHelp, stdout);
    return ExitOk;
  }
  const Command *command = findCommand(argv[0]);
  if (!command || argc > 1)
    return usageError(argc > 1
                          ? "help takes one command"
                          : "no command '" + std::string(argv[0]) + "'" +
                                driver::didYouMean(argv[0], commandNames()),
                      nullptr);
  char help[] = "--help";
  char *args[] = {help, nullptr};
  return command->run(1, args);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fputs(mainHelp, stderr);
    return ExitUsage;
  }
  std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help")
    return runHelpCommand(argc - 2, argv + 2);
  if (command == "-V" || command == "--version" || command == "version") {
    std::printf("iterc %s\n", iterVersion());
    return ExitOk;
  }
  if (const Command *c = findCommand(command))
    return c->run(argc - 2, argv + 2);
  if (command.size() > 1 && command[0] == '-')
    return usageError(driver::unknownOption(command, {"--help", "--version"}),
                      nullptr);
  return usageError("unknown command '" + command + "'" +
                        driver::didYouMean(command, commandNames()),
                    nullptr);
}
