//===- ShellCheck.h - Values in tool commands, checked ----------*- C++ -*-===//
//
// This file declares the compile-time side of how values enter tool
// commands: the runtime's scanner (runtime-lib ShellScan.h, the same source
// linked here) finds where each `{{ref}}` and `${NAME}` of a command lands,
// and this check turns the places no value can safely go into C130 errors
// and the values that become code again (`sh -c`, `eval`, a python or node
// script) into C131 warnings, each with what to write instead.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_IR_SHELLCHECK_H
#define ITERC_IR_SHELLCHECK_H

#include "IR/Template.h"

#include <string>
#include <utility>
#include <vector>

namespace iterc::ir {

struct ShellFinding {
  bool refused = false; ///< C130; otherwise C131.
  SourceRange range;    ///< The reference (or the whole command).
  std::string what;     ///< `{{vars.x}}` or `${NAME}`.
  std::string why;
  std::string advice;
  std::vector<std::pair<SourceRange, std::string>> fixIts;
};

/// A tool `command` (run by /bin/sh) or a `script` run by sh or bash.
/// `contentBegin` is the file offset of the command's first byte when
/// `exact` (fix-its are only offered then).
std::vector<ShellFinding> checkShellCommand(const Template &t, bool bash,
                                            bool exact, uint32_t contentBegin);

/// A `script` run by another interpreter (python3, node): every `{{ref}}` is
/// pasted into its source.
std::vector<ShellFinding> checkScriptValues(const Template &t,
                                            const std::string &language);

} // namespace iterc::ir

#endif // ITERC_IR_SHELLCHECK_H
