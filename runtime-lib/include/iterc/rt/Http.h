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
#include <optional>
#include <string>
#include <vector>

namespace iterc::rt {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The deadlines of one request attempt in ms; 0 or less leaves one unset.
struct RequestTimeouts {
  int64_t connectMs = 0;   ///< TCP connect and TLS handshake.
  int64_t firstByteMs = 0; ///< From the request sent to the reply's first byte.
  int64_t totalMs = 0;     ///< The whole attempt.
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  ///< http:// or https://
  Headers headers;
  std::string body;
  /// The deadline of one attempt as a whole: connecting, the TLS
  /// handshake, writing and reading the whole reply. 0 or less: none.
  int64_t timeoutMs = 60000;
  /// Connecting (TCP and TLS handshake) must end within this; 0 or less:
  /// only timeoutMs bounds it.
  int64_t connectTimeoutMs = 0;
  /// The first byte of the reply must arrive within this after the request
  /// is written (a server that accepts and never answers); 0 or less: only
  /// timeoutMs bounds it.
  int64_t firstByteTimeoutMs = 0;
  /// Asked about every 50 ms while an attempt is in flight and before each
  /// retry: an error abandons the request with that error at once (the
  /// run's duration budget ran out, the run was interrupted).
  std::function<std::optional<Error>()> abandon;
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
  /// Attempts when they time out (a server that hung once rarely answers
  /// the next attempt; each costs a whole deadline): at most this many,
  /// within maxAttempts.
  int maxTimedOutAttempts = 2;
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
