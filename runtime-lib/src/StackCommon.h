//===- StackCommon.h - What the stack runtimes share -------------*- C++
//-*-===//
//
// This file declares the pieces the local and the container stack runtimes
// share: the tail of a service's log file and the health-check loop (probe
// every interval until healthy, the service ended, or the retries are
// spent).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_STACKCOMMON_H
#define ITERC_RT_SRC_STACKCOMMON_H

#include "iterc/rt/Stack.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace iterc::rt {

class HttpTransport;

/// What a runtime's options leave out: the system clock, and an HTTP
/// transport of its own (kept in `owned`) for health probes.
void defaultClockAndHttp(Clock *&clock, HttpTransport *&http,
                         std::unique_ptr<HttpTransport> &owned);

/// The last `lines` lines of the file at `path` ("" when it cannot be read).
std::string logFileTail(const std::string &path, size_t lines);

/// One HTTP health probe: GET `h.http` at `ep` answers 2xx or 3xx within
/// `h.timeoutMs`.
bool httpHealthy(HttpTransport &http, const Endpoint &ep, const HealthDesc &h);

/// Probes a service with `h` until `healthy()` holds. Before each probe,
/// `ended()` says whether the service's process is gone (and how it ended).
/// Returns nullopt once healthy, else why not, as the rest of a sentence
/// that starts with the service's name ("exited with status 1 before its
/// health check passed", "never became healthy: GET /healthz failed 30
/// times over 30012 ms").
std::optional<std::string>
waitUntilHealthy(Clock &clock, const HealthDesc &h,
                 const std::function<std::optional<std::string>()> &ended,
                 const std::function<bool()> &healthy);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_STACKCOMMON_H
