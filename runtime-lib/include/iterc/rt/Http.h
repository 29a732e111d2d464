//===- Http.h - HTTP(S) client behind an interface --------------*- C++ -*-===//
//
// This file declares the HTTP transport the providers, verify checks and the
// MCP client use. The real transport is Boost.Beast over OpenSSL (TLS
// verification on; CA bundle from the system or SSL_CERT_FILE); tests use
// servers they start on loopback. sendWithRetry adds the retry policy:
// exponential backoff with jitter on 429, 5xx and connection errors,
// honouring Retry-After, never retrying 400/401/403.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_HTTP_H
#define ITERC_RT_HTTP_H

#include "iterc/rt/Clock.h"
#include "iterc/rt/Core.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace iterc::rt {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  ///< http:// or https://
  Headers headers;
  std::string body;
  int64_t timeoutMs = 60000;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  /// The first header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

class HttpTransport {
public:
  virtual ~HttpTransport() = default;
  /// One attempt. A connection error, a timeout or a malformed reply is an
  /// Error (ErrorCode::Http / Timeout); any HTTP status is a response.
  virtual Expected<HttpResponse> send(const HttpRequest &request) = 0;
};

/// The Beast + OpenSSL transport.
std::unique_ptr<HttpTransport> makeHttpTransport();

struct RetryPolicy {
  int maxAttempts = 5;
  int64_t baseDelayMs = 500;
  int64_t maxDelayMs = 30000;
  /// Relative jitter applied to computed backoff delays (0.2 = +/-20 %);
  /// 0 gives exact delays. Never applied to a server's Retry-After.
  double jitter = 0.2;
};

/// Seeds the generator behind the backoff jitter (deterministic by default).
void setRetryJitterSeed(uint64_t seed);

/// The largest reply body the transport accepts (64 MiB).
constexpr size_t kMaxHttpBodyBytes = size_t(64) << 20;

struct RetryEvent {
  int attempt = 0;       ///< The attempt that failed (1-based).
  int64_t delayMs = 0;   ///< How long before the next one.
  std::string reason;    ///< "status 429", "connection refused", ...
};

/// Sends with retries. Returns the final response (which may still carry a
/// non-2xx status when retries ran out or the status is not retryable), or
/// the last transport error.
Expected<HttpResponse>
sendWithRetry(HttpTransport &transport, const HttpRequest &request,
              const RetryPolicy &policy, Clock &clock,
              const std::function<void(const RetryEvent &)> &onRetry = {});

} // namespace iterc::rt

#endif // ITERC_RT_HTTP_H
