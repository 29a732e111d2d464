//===- DiffCmd.cpp - iterc diff -------------------------------------------===//
//
// This file implements `iterc diff`: options, reading both sides, printing.
//
//===----------------------------------------------------------------------===//
#include "Driver/DiffCmd.h"

#include "CodeGen/DiffInput.h"
#include "Driver/Build.h"
#include "Driver/Exit.h"
#include "Tools/Diff.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

using namespace iterc;

const char *iterc::diffHelp =
    "usage: iterc diff [options] OLD NEW\n"
    "\n"
    "Compares two versions of a workflow. Each of OLD and NEW is a .iter file\n"
    "('-' reads standard input), a directory written by 'iterc emit' (or\n"
    "'iterc unbundle'), or a bundle from 'iterc bundle'.\n"
    "\n"
    "Prints the semantic changes first (nodes, edges and their conditions\n"
    "and order, loops and caps, prompts, schemas and fields, vars, presets,\n"
    "budget, services, MCP servers), each with its location in OLD and/or\n"
    "NEW, then the unified diff of every generated file that differs. A\n"
    "directory without its source has no semantic summary: only its files\n"
    "are compared. Both .iter sides are emitted under one recorded source\n"
    "path, so that the path itself does not show up as a change.\n"
    "\n"
    "  --format=text       for a terminal (default)\n"
    "  --format=markdown   for a pull-request comment\n"
    "  --format=json       for tools (schema in docs/diff.md)\n"
    "  --color             colour the text output (default: when a terminal)\n"
    "  --no-color          never colour\n"
    "  -U N, --unified=N   lines of context in file diffs (default 3)\n"
    "  --source-path=PATH  the source path recorded in the files emitted for\n"
    "                      .iter sides (default: the other side's recorded\n"
    "                      path, else NEW's path, else OLD's)\n"
    "\n"
    "exit status: 0 identical, 1 different, 2 usage error, unreadable input\n"
    "or errors in an input (its diagnostics are printed)\n";

namespace {

constexpr int ExitSame = 0;
constexpr int ExitDifferent = 1;
constexpr int ExitTrouble = 2;

int usage(const std::string &message) {
  std::fprintf(stderr, "iterc: %s\nrun 'iterc diff --help' for usage\n",
               message.c_str());
  return ExitTrouble;
}

bool parseCount(const std::string &text, unsigned &out) {
  if (text.empty() || text.size() > 6 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = unsigned(std::stoul(text));
  return true;
}

} // namespace

int iterc::runDiff(int argc, char **argv) {
  diff::DiffRenderOptions render;
  int color = -1;
  unsigned context = 3;
  std::string sourcePath;
  std::vector<std::string> operands;
  bool optionsDone = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (optionsDone || arg == "-" || arg.empty() || arg[0] != '-') {
      operands.push_back(arg);
      continue;
    }
    auto value = [&](const std::string &name, std::string &out) {
      if (arg.rfind(name + "=", 0) == 0) {
        out = arg.substr(name.size() + 1);
        return true;
      }
      if (arg == name && i + 1 < argc) {
        out = argv[++i];
        return true;
      }
      return false;
    };
    std::string v;
    if (arg == "-h" || arg == "--help") {
      std::fputs(diffHelp, stdout);
      return ExitSame;
    } else if (arg == "--") {
      optionsDone = true;
    } else if (value("--format", v)) {
      if (v == "text")
        render.format = diff::DiffFormat::Text;
      else if (v == "markdown" || v == "md")
        render.format = diff::DiffFormat::Markdown;
      else if (v == "json")
        render.format = diff::DiffFormat::Json;
      else
        return usage("unknown format '" + v +
                     "'; expected text, markdown or json");
    } else if (arg == "--color") {
      color = 1;
    } else if (arg == "--no-color") {
      color = 0;
    } else if (value("--unified", v) || value("-U", v) ||
               (arg.rfind("-U", 0) == 0 && arg.size() > 2 &&
                (v = arg.substr(2), true))) {
      if (!parseCount(v, context))
        return usage("invalid number of context lines '" + v + "'");
    } else if (value("--source-path", v)) {
      if (v.empty())
        return usage("--source-path needs a path");
      sourcePath = v;
    } else {
      return usage(driver::unknownOption(arg, {"--help", "--format", "--color",
                                               "--no-color", "--unified",
                                               "--source-path"}));
    }
  }
  if (operands.size() != 2)
    return usage(operands.size() < 2 ? "diff needs OLD and NEW"
                                     : "diff takes exactly two inputs");
  if (operands[0] == "-" && operands[1] == "-")
    return usage("only one input can be standard input");

  codegen::DiffLoadOptions load;
  load.sourcePath = sourcePath;
  load.color = isatty(STDERR_FILENO);
  load.skeletons = [](std::string &error) -> std::optional<codegen::Skeletons> {
    codegen::Skeletons skeletons;
    if (!findSkeletons(skeletons, error))
      return std::nullopt;
    return skeletons;
  };
  diff::Side oldSide, newSide;
  std::string messages;
  bool loaded = codegen::loadDiffSides({operands[0], operands[0]},
                                       {operands[1], operands[1]}, load,
                                       oldSide, newSide, messages);
  std::fputs(messages.c_str(), stderr);
  if (!loaded)
    return ExitTrouble;

  diff::DiffResult result = diff::computeDiff(oldSide, newSide, context);
  render.color = render.format == diff::DiffFormat::Text &&
                 (color == 1 || (color == -1 && isatty(STDOUT_FILENO)));
  std::string out = diff::renderDiff(result, render);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0)
    return ExitTrouble;
  return result.identical() ? ExitSame : ExitDifferent;
}
