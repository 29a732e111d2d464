//===- ClockTest.cpp - Real and fake clocks, RFC 3339 timestamps ----------===//
//
// The system clock's timestamps are RFC 3339 UTC with milliseconds and agree
// with time(2); the fake clock's are deterministic; formatting and parsing
// round-trip.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Clock.h"

#include <catch2/catch.hpp>

#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace iterc::rt;

namespace {

/// "dddd-dd-ddTdd:dd:dd.dddZ" exactly.
bool looksLikeRfc3339Ms(const std::string &s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size())
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
    if (!ok)
      return false;
  }
  return true;
}

} // namespace

TEST_CASE("formatTimestamp writes RFC 3339 UTC with milliseconds",
          "[clock]") {
  CHECK(formatTimestamp(0) == "1970-01-01T00:00:00.000Z");
  CHECK(formatTimestamp(1767225600000LL) == "2026-01-01T00:00:00.000Z");
  CHECK(formatTimestamp(1795304465123LL) == "2026-11-21T23:41:05.123Z");
  CHECK(formatTimestamp(951782400000LL) == "2000-02-29T00:00:00.000Z");
  CHECK(formatTimestamp(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("parseTimestamp reads RFC 3339", "[clock]") {
  CHECK(parseTimestamp("1970-01-01T00:00:00.000Z") == 0);
  CHECK(parseTimestamp("1970-01-01T00:00:00Z") == 0);
  CHECK(parseTimestamp("2026-01-01T00:00:00.5Z") == 1767225600500LL);
  CHECK(parseTimestamp("2026-01-01T01:00:00+01:00") == 1767225600000LL);
  CHECK(parseTimestamp("2025-12-31T23:00:00-01:00") == 1767225600000LL);
  CHECK(parseTimestamp("2026-01-01T00:00:00.123456Z") == 1767225600123LL);
  CHECK_FALSE(parseTimestamp(""));
  CHECK_FALSE(parseTimestamp("2026-01-01"));
  CHECK_FALSE(parseTimestamp("2026-01-01T00:00:00"));
  CHECK_FALSE(parseTimestamp("2026-02-30T00:00:00Z"));
  CHECK_FALSE(parseTimestamp("2026-13-01T00:00:00Z"));
  CHECK_FALSE(parseTimestamp("2026-01-01T24:00:00Z"));
  CHECK_FALSE(parseTimestamp("2026-01-01T00:00:00.Z"));
  CHECK_FALSE(parseTimestamp("2026-01-01T00:00:00Zjunk"));

  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> dist(-5000000000000LL,
                                              9000000000000LL);
  for (int i = 0; i < 2000; ++i) {
    int64_t ms = dist(rng);
    std::string text = formatTimestamp(ms);
    INFO(text);
    REQUIRE(parseTimestamp(text) == ms);
  }
}

TEST_CASE("systemClock timestamps are current RFC 3339 UTC", "[clock]") {
  Clock &clock = systemClock();
  std::string ts = clock.timestamp();
  INFO(ts);
  CHECK(looksLikeRfc3339Ms(ts));
  std::optional<int64_t> ms = parseTimestamp(ts);
  REQUIRE(ms);
  int64_t now = static_cast<int64_t>(std::time(nullptr)) * 1000;
  CHECK(*ms >= now - 5000);
  CHECK(*ms <= now + 5000);
}

TEST_CASE("systemClock is monotonic, sleeps, and is thread-safe", "[clock]") {
  Clock &clock = systemClock();
  int64_t a = clock.monotonicMs();
  clock.sleepMs(20);
  int64_t b = clock.monotonicMs();
  CHECK(b - a >= 20);
  clock.sleepMs(0);
  clock.sleepMs(-5);

  std::vector<std::thread> threads;
  std::vector<int> bad(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      int64_t last = 0;
      for (int i = 0; i < 2000; ++i) {
        std::string s = systemClock().timestamp();
        int64_t m = systemClock().monotonicMs();
        if (!looksLikeRfc3339Ms(s) || m < last)
          ++bad[t];
        last = m;
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int n : bad)
    CHECK(n == 0);
}

TEST_CASE("FakeClock moves only when told", "[clock]") {
  FakeClock clock;
  CHECK(clock.monotonicMs() == 0);
  CHECK(clock.timestamp() == "2026-01-01T00:00:00.000Z");
  clock.advance(1234);
  CHECK(clock.monotonicMs() == 1234);
  CHECK(clock.timestamp() == "2026-01-01T00:00:01.234Z");
  clock.sleepMs(86400000);
  CHECK(clock.totalSlept() == 86400000);
  CHECK(clock.timestamp() == "2026-01-02T00:00:01.234Z");
  CHECK(clock.timestamp() == clock.timestamp());

  FakeClock later(5000);
  CHECK(later.timestamp() == "2026-01-01T00:00:05.000Z");
}
