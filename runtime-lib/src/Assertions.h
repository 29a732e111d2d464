//===- Assertions.h - Assertions written at run time ------------*- C++ -*-===//
//
// This file declares the checking of a verify node's `assertions:`: a list
// of typed assertions produced by an earlier node (typically a planner
// model writing, before anything runs, how its work will be judged), each
// checked mechanically. The schema (docs/language.md, 15.1):
//
//   {"name": "tests pass",          optional; failures are named by it
//    "kind": "exit_code",           what is checked (below)
//    "target": "run_tests",         a node, a workspace file or a path
//    "service": "api",              http_* kinds only
//    "expected": 0}                 int, text, pattern or any JSON
//
//   exit_code                         target: a tool node with capture: true
//   stdout_contains, stderr_contains  target: a tool node; expected: text
//   stdout_matches, stderr_matches    target: a tool node; expected: POSIX ERE
//   file_exists                       target: a file inside the workspace
//   file_contains, file_matches       target: a file; expected: text or ERE
//   json_equals                       target: node.field.path; expected: JSON
//   http_status, http_body_contains   service, target: "/path"; expected
//
// Everything in an assertion is hostile: a malformed one is a failure that
// names it, never a crash; files stay inside the workspace (no absolute
// path, no `..`, no symlink anywhere on the way); HTTP goes only to the
// workflow's own running services (never to a URL from the assertion);
// patterns are short, without back-references, and run over a bounded text.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_ASSERTIONS_H
#define ITERC_RT_SRC_ASSERTIONS_H

#include "iterc/rt/Http.h"
#include "iterc/rt/Scope.h"

#include <functional>
#include <optional>
#include <string>

namespace iterc::rt::verify {

struct AssertionEnv {
  /// Reads `outputs.<node>...` for the node kinds.
  const Scope *scope = nullptr;
  /// The run's workspace (files are resolved inside it).
  std::string workspace;
  HttpTransport *http = nullptr;
  /// The base URL of a declared, running service; nullopt (and `why`) when
  /// there is none by that name.
  std::function<std::optional<std::string>(const std::string &service,
                                           std::string &why)>
      serviceUrl;
};

/// Checks every assertion of `assertions` (a list, or a JSON text of one);
/// appends one failure per assertion that does not hold or is malformed.
/// An empty or missing list is a failure too: nothing would be verified.
void checkAssertions(const Json &assertions, const AssertionEnv &env,
                     Json &failures);

} // namespace iterc::rt::verify

#endif // ITERC_RT_SRC_ASSERTIONS_H
