//===- Interrupt.h - Ctrl-C and SIGTERM for a workflow executable -*- C++ -*-===//
//
// The first SIGINT or SIGTERM asks the run to stop before its next step: a
// tool that is running finishes, model calls in flight are abandoned, and
// the run is recorded `cancelled` (exit 7). A second signal hurries: the
// tool processes of the run are stopped at once, the run is still recorded
// `cancelled`, and the process exits 128 + the signal (130 for SIGINT);
// should recording take longer than a few seconds, the process exits
// anyway. A third signal ends the process at once.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_INTERRUPT_H
#define ITERC_RT_SRC_INTERRUPT_H

#include <atomic>

namespace iterc::rt {

/// How long a hurried run may take to record its end before the process
/// exits without it.
constexpr unsigned hurryGraceSeconds = 10;

/// Installs the SIGINT and SIGTERM handlers; returns the flag the first
/// signal sets (the engine's `interrupt`).
const std::atomic<bool> *installInterruptHandlers();

/// True once a second signal came: tools that stop when hurried
/// (ToolInvocation::stopWhenHurried) are stopped. Async-signal-safe.
bool hurryRequested() noexcept;

/// The exit code of the process: `code`, or 128 + the signal once a second
/// signal hurried the run.
int interruptedExitCode(int code);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_INTERRUPT_H
