//===- Verify.h - What verify nodes check, and how they say it --*- C++ -*-===//
//
// This file declares the parts of a verify node's work that need no run
// state: evaluating named checks, judging an HTTP response against a probe's
// expectations (status, body, expect_json over the parsed body), and the
// wording of failures. A failure is {check, expected, actual}; `actual`
// shows the values the check saw (its operands, the status and a body
// excerpt), so that a retry prompt reading `{{outputs.V.failures}}` tells
// the model what was wrong, and the same inputs always give the same text.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_VERIFY_H
#define ITERC_RT_SRC_VERIFY_H

#include "iterc/rt/Http.h"
#include "iterc/rt/Scope.h"
#include "iterc/rt/Workflow.h"

#include <string>

namespace iterc::rt::verify {

/// {check, expected, actual}.
Json failure(const std::string &check, const std::string &expected,
             Json actual);

/// A value as one short line: strings quoted as JSON, anything longer than
/// `max` bytes cut (at a UTF-8 boundary) and marked with "...".
std::string shortText(const Json &value, size_t max = 200);

/// Text cut to at most `max` bytes at a UTF-8 boundary, "..." appended
/// when cut.
std::string clipText(const std::string &text, size_t max);

/// Evaluates each check in `scope`; a false one appends a failure whose
/// `actual` lists its operands with their values ("x = 1, length(y) = 2"),
/// or the value itself when it has none. `prefix` is put before each name.
void runChecks(const std::vector<CheckDesc> &checks, const Scope &scope,
               Json &failures, const std::string &prefix = "");

/// Judges `response` against the probe's expectations; appends failures.
/// expect_json expressions read the parsed body as `input`; other
/// namespaces come from `run`.
void checkResponse(const HttpCheckDesc &probe, const HttpResponse &response,
                   const Scope &run, Json &failures);

/// A one-line summary of failures for an error message: "check: expected
/// E, actual A; ..." (at most `max` of them, then how many more).
std::string summary(const Json &failures, size_t max = 5);

} // namespace iterc::rt::verify

#endif // ITERC_RT_SRC_VERIFY_H
