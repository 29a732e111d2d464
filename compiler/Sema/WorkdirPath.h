//===- WorkdirPath.h - Checking a tool's workdir --------------*- C++ -*-===//
//
// A tool node's `workdir` is a directory of the run's workspace, taken
// literally (no `{{...}}` or `${...}` expansion). This helper says why a
// value would leave the workspace (C132) and what to write instead.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_SEMA_WORKDIRPATH_H
#define ITERC_SEMA_WORKDIRPATH_H

#include <string>
#include <string_view>

namespace iterc::sema {

/// Why `workdir` cannot be a tool's working directory inside the workspace
/// ("" when it can), and in `confined` the same path with its leading `/`
/// and its `..` components removed ("." when nothing is left).
std::string workdirProblem(std::string_view workdir, std::string &confined);

} // namespace iterc::sema

#endif // ITERC_SEMA_WORKDIRPATH_H
