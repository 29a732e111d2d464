//===- HttpTest.cpp - Tests of the HTTP(S) transport and retry policy -----===//
//
// Runs the Beast transport against FakeHttpServer on loopback: round trips,
// refused connections, slow, truncated and silent servers, TLS with a
// certificate made at test time, and sendWithRetry with a FakeClock.
//
//===----------------------------------------------------------------------===//
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"

#include "iterc/rt/Http.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::ScopedEnv;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

/// A transport whose replies are scripted: statuses, or errors.
class ScriptedTransport : public HttpTransport {
public:
  std::vector<Expected<HttpResponse>> script;
  int calls = 0;
  Expected<HttpResponse> send(const HttpRequest &) override {
    size_t i = std::min(static_cast<size_t>(calls), script.size() - 1);
    ++calls;
    return script[i];
  }
};

HttpResponse status(int code, Headers headers = {}) {
  HttpResponse r;
  r.status = code;
  r.headers = std::move(headers);
  r.body = "status " + std::to_string(code);
  return r;
}

std::string writeTempFile(const std::string &content) {
  char path[] = "/tmp/iterc-http-test-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) ==
          static_cast<ssize_t>(content.size()));
  ::close(fd);
  return path;
}

} // namespace

TEST_CASE("http: GET and POST round trips carry headers and bodies", "[http]") {
  FakeHttpServer server([](const FakeRequest &req) {
    FakeReply r = FakeReply::json(req.method == "POST" ? 201 : 200,
                                  "{\"echo\":\"" + req.body + "\"}");
    r.headers.emplace_back("X-Seen-Method", req.method);
    r.headers.emplace_back("X-Request-Id", "abc");
    return r;
  });
  auto transport = makeHttpTransport();

  HttpRequest get;
  get.url = server.url("/items?x=1&y=two");
  get.headers.emplace_back("X-Custom", "hello");
  auto r1 = transport->send(get);
  REQUIRE(r1.ok());
  CHECK(r1->status == 200);
  CHECK(r1->header("x-seen-method") == "GET");
  CHECK(r1->header("X-REQUEST-ID") == "abc");
  CHECK(r1->header("content-type") == "application/json");
  CHECK(r1->header("missing").empty());

  HttpRequest post;
  post.method = "POST";
  post.url = server.url("/submit");
  post.headers.emplace_back("Content-Type", "text/plain");
  post.body = "payload";
  auto r2 = transport->send(post);
  REQUIRE(r2.ok());
  CHECK(r2->status == 201);
  CHECK(r2->body == "{\"echo\":\"payload\"}");

  auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "/items?x=1&y=two");
  CHECK(reqs[0].header("X-Custom") == "hello");
  CHECK(reqs[0].header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(reqs[1].method == "POST");
  CHECK(reqs[1].target == "/submit");
  CHECK(reqs[1].body == "payload");
  CHECK(reqs[1].header("Content-Length") == "7");
  CHECK(reqs[1].header("content-type") == "text/plain");
}

TEST_CASE("http: a URL without a path asks for /", "[http]") {
  FakeHttpServer server([](const FakeRequest &) { return FakeReply(); });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server.port());
  auto r = transport->send(req);
  REQUIRE(r.ok());
  REQUIRE(server.requestCount() == 1);
  CHECK(server.requests()[0].target == "/");
}

TEST_CASE("http: malformed URLs are InvalidInput", "[http]") {
  auto transport = makeHttpTransport();
  for (const char *url : {"ftp://example.com/", "no-scheme", "http://",
                          "http://host:99999/", "http://[::1/"}) {
    HttpRequest req;
    req.url = url;
    auto r = transport->send(req);
    INFO(url);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::InvalidInput);
  }
}

TEST_CASE("http: a refused connection is an Http error naming the host",
          "[http]") {
  int port = iterc::test::unusedPort();
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("connection refused"));
  CHECK_THAT(r.error().message,
             Catch::Contains("127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("http: IPv6 literals are parsed", "[http]") {
  int port = iterc::test::unusedPort();
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "http://[::1]:" + std::to_string(port) + "/v6";
  req.timeoutMs = 2000;
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message,
             Catch::Contains("[::1]:" + std::to_string(port)));
}

TEST_CASE("http: a reply over the body limit is an Http error", "[http]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, std::string(kMaxHttpBodyBytes + 1, 'x'));
  });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/huge");
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("body limit"));
}

TEST_CASE("http: an unknown host is an Http error naming it", "[http]") {
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "http://no-such-host.invalid/x";
  req.timeoutMs = 5000;
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("no-such-host.invalid"));
}

TEST_CASE("http: a slow server times out", "[http]") {
  FakeHttpServer server([](const FakeRequest &) {
    FakeReply r;
    r.delayMs = 2000;
    return r;
  });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/slow");
  req.timeoutMs = 200;
  auto start = std::chrono::steady_clock::now();
  auto r = transport->send(req);
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
  CHECK_THAT(r.error().message, Catch::Contains("timed out after 200 ms"));
  CHECK(elapsed < std::chrono::milliseconds(1500));
}

TEST_CASE("http: a server that never answers times out", "[http]") {
  FakeHttpServer server([](const FakeRequest &) {
    FakeReply r;
    r.mode = FakeReply::Mode::Hang;
    return r;
  });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/hang");
  req.timeoutMs = 150;
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
}

TEST_CASE("http: a truncated reply is an Http error", "[http]") {
  FakeHttpServer server([](const FakeRequest &) {
    FakeReply r = FakeReply::json(200, "{\"a\": \"0123456789abcdef\"}");
    r.mode = FakeReply::Mode::Truncate;
    return r;
  });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/cut");
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("truncated"));
  CHECK_THAT(r.error().message, Catch::Contains("127.0.0.1"));
}

TEST_CASE("http: a connection closed without a reply is an Http error",
          "[http]") {
  FakeHttpServer server([](const FakeRequest &) {
    FakeReply r;
    r.mode = FakeReply::Mode::Drop;
    return r;
  });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/drop");
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("127.0.0.1"));
}

TEST_CASE("http: large bodies round trip", "[http]") {
  std::string big(3 << 20, 'x');
  FakeHttpServer server(
      [&](const FakeRequest &req) { return FakeReply::json(200, req.body); });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.method = "PUT";
  req.url = server.url("/big");
  req.body = big;
  auto r = transport->send(req);
  REQUIRE(r.ok());
  CHECK(r->body.size() == big.size());
}

TEST_CASE("http: HTTPS with a certificate trusted through SSL_CERT_FILE",
          "[http]") {
  auto [cert, key] =
      iterc::test::makeSelfSignedCert("DNS:localhost,IP:127.0.0.1");
  std::string certFile = writeTempFile(cert);
  FakeHttpServer server(
      [](const FakeRequest &req) {
        return FakeReply::json(200, "{\"secure\":true,\"path\":\"" +
                                        req.target + "\"}");
      },
      cert, key);

  SECTION("trusted: by IP address and by name") {
    ScopedEnv env("SSL_CERT_FILE", certFile.c_str());
    auto transport = makeHttpTransport();
    HttpRequest req;
    req.url = server.url("/tls");
    auto r = transport->send(req);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"secure\":true,\"path\":\"/tls\"}");

    req.url = "https://localhost:" + std::to_string(server.port()) + "/named";
    auto r2 = transport->send(req);
    REQUIRE(r2.ok());
    CHECK(r2->body == "{\"secure\":true,\"path\":\"/named\"}");
  }
  SECTION("not trusted without SSL_CERT_FILE") {
    ScopedEnv env("SSL_CERT_FILE", nullptr);
    auto transport = makeHttpTransport();
    HttpRequest req;
    req.url = server.url("/tls");
    auto r = transport->send(req);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::Http);
    CHECK_THAT(r.error().message,
               Catch::Contains("certificate verification failed"));
  }
  SECTION("a missing CA bundle is reported") {
    ScopedEnv env("SSL_CERT_FILE", "/nonexistent/ca.pem");
    auto transport = makeHttpTransport();
    HttpRequest req;
    req.url = server.url("/tls");
    auto r = transport->send(req);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::InvalidInput);
    CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/ca.pem"));
  }
  std::remove(certFile.c_str());
}

TEST_CASE("http: HTTPS checks the host name, and does not retry a mismatch",
          "[http]") {
  auto [cert, key] = iterc::test::makeSelfSignedCert("DNS:other.example");
  std::string certFile = writeTempFile(cert);
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "{}"); }, cert,
      key);
  ScopedEnv env("SSL_CERT_FILE", certFile.c_str());
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/tls");
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("certificate verification"));
  CHECK_THAT(r.error().message, Catch::Contains("mismatch"));

  // Trying again cannot mend a certificate: no retries, no waiting.
  FakeClock clock;
  int retries = 0;
  auto again = sendWithRetry(*transport, req, RetryPolicy(), clock,
                             [&](const RetryEvent &) { ++retries; });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().permanent);
  CHECK_THAT(again.error().message, !Catch::Contains("attempts"));
  CHECK(retries == 0);
  CHECK(clock.totalSlept() == 0);
  std::remove(certFile.c_str());
}

TEST_CASE("http: HTTPS to a plain HTTP port fails with a TLS error", "[http]") {
  FakeHttpServer server([](const FakeRequest &) { return FakeReply(); });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  req.timeoutMs = 3000;
  auto r = transport->send(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("TLS handshake"));
}

//===----------------------------------------------------------------------===//
// sendWithRetry
//===----------------------------------------------------------------------===//

TEST_CASE("http: 429 with Retry-After waits what the server asks", "[http]") {
  int calls = 0;
  FakeHttpServer server([&](const FakeRequest &) {
    if (calls++ == 0) {
      FakeReply r = FakeReply::json(429, "{\"error\":\"slow down\"}");
      r.headers.emplace_back("Retry-After", "2");
      return r;
    }
    return FakeReply::json(200, "{\"ok\":true}");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  std::vector<RetryEvent> events;
  HttpRequest req;
  req.url = server.url("/limited");
  auto r = sendWithRetry(*transport, req, RetryPolicy(), clock,
                         [&](const RetryEvent &e) { events.push_back(e); });
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(server.requestCount() == 2);
  CHECK(clock.totalSlept() == 2000);
  REQUIRE(events.size() == 1);
  CHECK(events[0].attempt == 1);
  CHECK(events[0].delayMs == 2000);
  CHECK(events[0].reason == "status 429");
}

TEST_CASE("http: 5xx is retried with growing delays", "[http]") {
  int calls = 0;
  FakeHttpServer server([&](const FakeRequest &) {
    return FakeReply::json(calls++ < 2 ? 500 : 200, "{}");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  std::vector<RetryEvent> events;
  HttpRequest req;
  req.url = server.url("/flaky");
  RetryPolicy policy;
  policy.baseDelayMs = 100;
  auto r = sendWithRetry(*transport, req, policy, clock,
                         [&](const RetryEvent &e) { events.push_back(e); });
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(server.requestCount() == 3);
  REQUIRE(events.size() == 2);
  CHECK(events[0].delayMs >= 80);
  CHECK(events[0].delayMs <= 120);
  CHECK(events[1].delayMs >= 160);
  CHECK(events[1].delayMs <= 240);
  CHECK(events[1].delayMs > events[0].delayMs);
  CHECK(clock.totalSlept() == events[0].delayMs + events[1].delayMs);
}

TEST_CASE("http: exact backoff without jitter, capped", "[http]") {
  ScriptedTransport t;
  t.script = {status(503)};
  FakeClock clock;
  std::vector<int64_t> delays;
  RetryPolicy policy;
  policy.maxAttempts = 6;
  policy.baseDelayMs = 100;
  policy.maxDelayMs = 500;
  policy.jitter = 0;
  auto r =
      sendWithRetry(t, HttpRequest(), policy, clock,
                    [&](const RetryEvent &e) { delays.push_back(e.delayMs); });
  REQUIRE(r.ok());
  CHECK(r->status == 503);
  CHECK(t.calls == 6);
  CHECK(delays == std::vector<int64_t>{100, 200, 400, 500, 500});
}

TEST_CASE("http: 400, 401, 403 and 404 are not retried", "[http]") {
  for (int code : {400, 401, 403, 404}) {
    int calls = 0;
    FakeHttpServer server([&](const FakeRequest &) {
      ++calls;
      return FakeReply::json(code, "{\"error\":{\"message\":\"no\"}}");
    });
    auto transport = makeHttpTransport();
    FakeClock clock;
    HttpRequest req;
    req.url = server.url("/denied");
    auto r = sendWithRetry(*transport, req, RetryPolicy(), clock);
    INFO(code);
    REQUIRE(r.ok());
    CHECK(r->status == code);
    CHECK(server.requestCount() == 1);
    CHECK(clock.totalSlept() == 0);
  }
}

TEST_CASE("http: exhausted retries return the last response", "[http]") {
  int calls = 0;
  FakeHttpServer server([&](const FakeRequest &) {
    ++calls;
    return FakeReply::json(502, "{\"attempt\":" + std::to_string(calls) + "}");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  int retries = 0;
  RetryPolicy policy;
  policy.maxAttempts = 3;
  HttpRequest req;
  req.url = server.url("/down");
  auto r = sendWithRetry(*transport, req, policy, clock,
                         [&](const RetryEvent &) { ++retries; });
  REQUIRE(r.ok());
  CHECK(r->status == 502);
  CHECK(r->body == "{\"attempt\":3}");
  CHECK(server.requestCount() == 3);
  CHECK(retries == 2);
}

TEST_CASE("http: transport errors are retried, then reported", "[http]") {
  int port = iterc::test::unusedPort();
  auto transport = makeHttpTransport();
  FakeClock clock;
  std::vector<RetryEvent> events;
  RetryPolicy policy;
  policy.maxAttempts = 3;
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto r = sendWithRetry(*transport, req, policy, clock,
                         [&](const RetryEvent &e) { events.push_back(e); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Http);
  CHECK_THAT(r.error().message, Catch::Contains("after 3 attempts"));
  REQUIRE(events.size() == 2);
  CHECK_THAT(events[0].reason, Catch::Contains("connection refused"));
}

TEST_CASE("http: transport error then success", "[http]") {
  ScriptedTransport t;
  t.script = {Error(ErrorCode::Timeout, "timed out"), status(200)};
  FakeClock clock;
  auto r = sendWithRetry(t, HttpRequest(), RetryPolicy(), clock);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(t.calls == 2);
  CHECK(clock.totalSlept() > 0);
}

TEST_CASE("http: invalid input is not retried", "[http]") {
  ScriptedTransport t;
  t.script = {Error(ErrorCode::InvalidInput, "bad url")};
  FakeClock clock;
  auto r = sendWithRetry(t, HttpRequest(), RetryPolicy(), clock);
  REQUIRE_FALSE(r.ok());
  CHECK(t.calls == 1);
}

TEST_CASE("http: Retry-After is capped and accepts HTTP dates", "[http]") {
  FakeClock clock;
  RetryPolicy policy;
  policy.maxDelayMs = 5000;
  std::vector<int64_t> delays;
  auto onRetry = [&](const RetryEvent &e) { delays.push_back(e.delayMs); };

  SECTION("seconds beyond the cap") {
    ScriptedTransport t;
    t.script = {status(503, {{"retry-after", "120"}}), status(200)};
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    CHECK(delays == std::vector<int64_t>{5000});
  }
  SECTION("an unparsable value falls back to backoff") {
    ScriptedTransport t;
    t.script = {status(429, {{"Retry-After", "soon"}}), status(200)};
    // Unparsable: falls back to backoff (<= base * 1.2).
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    REQUIRE(delays.size() == 1);
    CHECK(delays[0] <= 600);
  }
  SECTION("an IMF-fixdate far in the future") {
    ScriptedTransport t;
    t.script = {status(429, {{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}}),
                status(200)};
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    CHECK(delays == std::vector<int64_t>{5000});
  }
  SECTION("a date in the past means now") {
    ScriptedTransport t;
    t.script = {status(503, {{"Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"}}),
                status(200)};
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    CHECK(delays == std::vector<int64_t>{0});
  }
  // The fake clock starts at 2026-01-01T00:00:00Z, a Thursday, and moves
  // on by each delay slept.
  SECTION("each HTTP-date format") {
    policy.maxDelayMs = 60000;
    ScriptedTransport t;
    t.script = {
        status(429, {{"Retry-After", "Thu, 01 Jan 2026 00:00:03 GMT"}}),
        status(429, {{"Retry-After", "Thursday, 01-Jan-26 00:00:07 GMT"}}),
        status(429, {{"Retry-After", "Thu Jan  1 00:00:09 2026"}}),
        status(200)};
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    CHECK(delays == std::vector<int64_t>{3000, 4000, 2000});
  }
  SECTION("a malformed date falls back to backoff") {
    for (const char *bad :
         {"Thu, 01 Jan 2026 00:00:03 GMT extra",
          "Thu, 01 Foo 2026 00:00:03 GMT", "Thu, 32 Jan 2026 00:00:03 GMT",
          "Thu, 01 Jan 2026 00:03 GMT", "Thu Jan  1 00:00:02",
          "Thu, 01 Jan 2026 24:00:03 GMT"}) {
      CAPTURE(bad);
      delays.clear();
      ScriptedTransport t;
      t.script = {status(429, {{"Retry-After", bad}}), status(200)};
      REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
      REQUIRE(delays.size() == 1);
      CHECK(delays[0] <= 600);
    }
  }
  SECTION("Retry-After on a 500 is ignored") {
    ScriptedTransport t;
    policy.jitter = 0;
    t.script = {status(500, {{"Retry-After", "3"}}), status(200)};
    REQUIRE(sendWithRetry(t, HttpRequest(), policy, clock, onRetry).ok());
    CHECK(delays == std::vector<int64_t>{500});
  }
}

TEST_CASE("http: jitter is deterministic for a seed", "[http]") {
  auto run = [] {
    setRetryJitterSeed(7);
    ScriptedTransport t;
    t.script = {status(500)};
    FakeClock clock;
    std::vector<int64_t> delays;
    RetryPolicy policy;
    policy.maxAttempts = 4;
    sendWithRetry(t, HttpRequest(), policy, clock,
                  [&](const RetryEvent &e) { delays.push_back(e.delayMs); });
    return delays;
  };
  CHECK(run() == run());
}
