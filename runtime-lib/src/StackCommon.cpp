//===- StackCommon.cpp - What the stack runtimes share --------------------===//
//
// This file implements logFileTail and waitUntilHealthy (StackCommon.h).
//
//===----------------------------------------------------------------------===//
#include "StackCommon.h"

#include "FileText.h"

#include "iterc/rt/Clock.h"
#include "iterc/rt/Http.h"

#include <algorithm>

void iterc::rt::defaultClockAndHttp(Clock *&clock, HttpTransport *&http,
                                    std::unique_ptr<HttpTransport> &owned) {
  if (!clock)
    clock = &systemClock();
  if (!http) {
    owned = makeHttpTransport();
    http = owned.get();
  }
}

std::string iterc::rt::logFileTail(const std::string &path, size_t lines) {
  // Logs live in the workspace: a symlink planted there is not followed.
  std::string text = readFileText(path, /*followLinks=*/false).value_or("");
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  size_t at = text.size();
  for (size_t n = 0; n < lines && at != std::string::npos && at > 0; ++n)
    at = text.rfind('\n', at - 1);
  return at == std::string::npos || at == 0 ? text : text.substr(at + 1);
}

std::optional<std::string> iterc::rt::waitUntilHealthy(
    Clock &clock, const HealthDesc &h,
    const std::function<std::optional<std::string>()> &ended,
    const std::function<bool()> &healthy) {
  int64_t attempts = std::max<int64_t>(1, h.retries);
  int64_t started = clock.monotonicMs();
  for (int64_t attempt = 1; attempt <= attempts; ++attempt) {
    if (std::optional<std::string> how = ended())
      return *how + " before its health check passed";
    if (healthy())
      return std::nullopt;
    if (attempt < attempts)
      clock.sleepMs(h.intervalMs);
  }
  std::string how =
      !h.http.empty() ? "GET " + h.http : "the command '" + h.command[0] + "'";
  return "never became healthy: " + how + " failed " +
         std::to_string(attempts) + " times over " +
         std::to_string(clock.monotonicMs() - started) + " ms";
}

bool iterc::rt::httpHealthy(HttpTransport &http, const Endpoint &ep,
                            const HealthDesc &h) {
  HttpRequest request;
  request.url = ep.baseUrl() + h.http;
  request.timeoutMs = h.timeoutMs;
  Expected<HttpResponse> response = http.send(request);
  return response.ok() && response->status >= 200 && response->status < 400;
}
