//===- Interrupt.cpp - Ctrl-C and SIGTERM for a workflow executable -------===//
//
// This file implements the signal handlers of a generated executable (see
// Interrupt.h). Before, a second Ctrl-C killed the process at once and left
// the run marked `running`; now it stops the run's tools and lets the
// engine record the end, within a bounded time.
//
//===----------------------------------------------------------------------===//
#include "Interrupt.h"

#include <csignal>
#include <unistd.h>

namespace {

/// Set by the first signal; the run stops before its next step.
std::atomic<bool> interrupted{false};
/// Set by the second signal; tools are stopped at once.
std::atomic<bool> hurried{false};
/// Signals received, and the second one.
std::atomic<int> received{0};
std::atomic<int> hurrySignal{SIGINT};

static_assert(std::atomic<bool>::is_always_lock_free &&
                  std::atomic<int>::is_always_lock_free,
              "the signal handlers need lock-free atomics");

extern "C" void onHurryTimeout(int) { ::_exit(128 + hurrySignal.load()); }

extern "C" void onInterrupt(int sig) {
  int count = ++received;
  interrupted.store(true);
  if (count == 2) {
    hurrySignal.store(sig);
    hurried.store(true);
    // Recording the end is bounded: the process exits regardless.
    struct sigaction action = {};
    action.sa_handler = onHurryTimeout;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGALRM, &action, nullptr);
    ::alarm(iterc::rt::hurryGraceSeconds);
  } else if (count > 2) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

} // namespace

const std::atomic<bool> *iterc::rt::installInterruptHandlers() {
  struct sigaction action = {};
  action.sa_handler = onInterrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return &interrupted;
}

bool iterc::rt::hurryRequested() noexcept { return hurried.load(); }

int iterc::rt::interruptedExitCode(int code) {
  return hurried.load() && received.load() >= 2 ? 128 + hurrySignal.load()
                                                : code;
}
