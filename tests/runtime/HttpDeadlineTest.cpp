//===- HttpDeadlineTest.cpp - Request deadlines and abandoned requests ----===//
//
// Runs the Beast transport and sendWithRetry against FakeHttpServer on
// loopback: a server that accepts and never answers is given up at the
// first-byte deadline, one that sends headers and stalls at the total
// deadline, a connection that is never accepted at the connect deadline; a
// request abandoned while in flight (the run's duration budget ran out)
// stops at once and is never retried; a timed-out request is retried once.
// Each measures the wall time it took.
//
//===----------------------------------------------------------------------===//
#include "FakeHttpServer.h"

#include "iterc/rt/Http.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;
using Clock_ = std::chrono::steady_clock;

namespace {

double secondsSince(Clock_::time_point start) {
  return std::chrono::duration<double>(Clock_::now() - start).count();
}

FakeReply replyIn(FakeReply::Mode mode) {
  FakeReply r = FakeReply::json(200, R"({"answer": "a reply long enough"})");
  r.mode = mode;
  return r;
}

/// Abandons the request `afterMs` after it was made.
std::function<std::optional<Error>()> abandonAfter(int64_t afterMs) {
  Clock_::time_point at = Clock_::now() + std::chrono::milliseconds(afterMs);
  return [at]() -> std::optional<Error> {
    if (Clock_::now() < at)
      return std::nullopt;
    return Error(ErrorCode::Budget, "budget exceeded: duration");
  };
}

/// One attempt against a server that answers in `mode`; `took` is how long
/// it lasted in seconds.
Expected<HttpResponse> attempt(FakeReply::Mode mode, HttpRequest req,
                               double &took) {
  FakeHttpServer server([mode](const FakeRequest &) { return replyIn(mode); });
  auto transport = makeHttpTransport();
  req.url = server.url("/slow");
  auto start = Clock_::now();
  Expected<HttpResponse> r = transport->send(req);
  took = secondsSince(start);
  return r;
}

} // namespace

TEST_CASE("http: a server that accepts and never answers is given up at the "
          "first-byte deadline",
          "[http][deadline]") {
  HttpRequest req;
  req.timeoutMs = 20000;
  req.firstByteTimeoutMs = 300;
  double took = 0;
  Expected<HttpResponse> r = attempt(FakeReply::Mode::Hang, req, took);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
  CHECK_THAT(r.error().message,
             Catch::Contains("timed out after 300 ms (waiting for the first "
                             "byte"));
  CHECK(took < 3);
}

TEST_CASE("http: a server that sends headers and stalls is given up at the "
          "total deadline",
          "[http][deadline]") {
  HttpRequest req;
  req.timeoutMs = 600;
  req.firstByteTimeoutMs = 300; // met: the headers come at once
  double took = 0;
  Expected<HttpResponse> r = attempt(FakeReply::Mode::Stall, req, took);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
  CHECK_THAT(r.error().message,
             Catch::Contains("timed out after 600 ms (reading from"));
  CHECK(took >= 0.5);
  CHECK(took < 3);
}

TEST_CASE("http: a connection that is never accepted is given up at the "
          "connect deadline",
          "[http][deadline]") {
  // A listening socket with a backlog of 0 whose one queue slot is taken:
  // the kernel leaves later handshakes unanswered.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) ==
          0);
  REQUIRE(::listen(listener, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    fillers.push_back(c);
  }
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  req.timeoutMs = 20000;
  req.connectTimeoutMs = 300;
  auto start = Clock_::now();
  Expected<HttpResponse> r = transport->send(req);
  double took = secondsSince(start);
  for (int c : fillers)
    ::close(c);
  ::close(listener);
  if (r.ok() || r.error().code != ErrorCode::Timeout) {
    WARN("SKIPPED: this kernel completed the connection anyway ("
         << (r.ok() ? std::string("a reply") : r.error().message) << ")");
    return;
  }
  CHECK_THAT(r.error().message,
             Catch::Contains("timed out after 300 ms (connecting to"));
  CHECK(took < 3);
}

TEST_CASE("http: a request abandoned in flight stops at once and is not "
          "retried",
          "[http][deadline]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return replyIn(FakeReply::Mode::Hang); });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/hang");
  req.timeoutMs = 30000;
  req.abandon = abandonAfter(400);
  RetryPolicy policy;
  policy.jitter = 0;
  auto start = Clock_::now();
  Expected<HttpResponse> r =
      sendWithRetry(*transport, req, policy, systemClock());
  double took = secondsSince(start);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Budget);
  CHECK(took >= 0.35);
  CHECK(took < 3);
  CHECK(server.requestCount() == 1);
}

TEST_CASE("http: no retry starts once the request is abandoned",
          "[http][deadline]") {
  /// Answers 503 to every attempt and counts them.
  struct Busy : HttpTransport {
    int sends = 0;
    Expected<HttpResponse> send(const HttpRequest &) override {
      ++sends;
      HttpResponse r;
      r.status = 503;
      return r;
    }
  } busy;
  HttpRequest req;
  req.url = "http://127.0.0.1:9/busy";
  // Abandoned once the first attempt has been answered.
  req.abandon = [&busy]() -> std::optional<Error> {
    if (busy.sends == 0)
      return std::nullopt;
    return Error(ErrorCode::Budget, "budget exceeded: duration");
  };
  FakeClock clock;
  Expected<HttpResponse> r = sendWithRetry(busy, req, RetryPolicy(), clock);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Budget);
  CHECK(busy.sends == 1);
  CHECK(clock.totalSlept() == 0);

  // Without an abandon, the same replies are tried five times.
  busy.sends = 0;
  req.abandon = nullptr;
  Expected<HttpResponse> all = sendWithRetry(busy, req, RetryPolicy(), clock);
  REQUIRE(all.ok());
  CHECK(all->status == 503);
  CHECK(busy.sends == 5);
}

TEST_CASE("http: a request that times out is tried twice, not five times",
          "[http][deadline]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return replyIn(FakeReply::Mode::Hang); });
  auto transport = makeHttpTransport();
  HttpRequest req;
  req.url = server.url("/hang");
  req.timeoutMs = 150;
  FakeClock clock;
  RetryPolicy policy; // five attempts
  Expected<HttpResponse> r = sendWithRetry(*transport, req, policy, clock);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
  CHECK_THAT(r.error().message, Catch::Contains("(after 2 attempts)"));
  CHECK(server.requestCount() == 2);
}
