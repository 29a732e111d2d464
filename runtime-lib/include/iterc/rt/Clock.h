//===- Clock.h - Time, behind an interface ----------------------*- C++ -*-===//
//
// Budgets, retries and timestamps read time through Clock so that tests can
// run with a fake clock that only moves when told to.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_CLOCK_H
#define ITERC_RT_CLOCK_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iterc::rt {

class Clock {
public:
  virtual ~Clock() = default;
  /// Milliseconds on a monotonic clock.
  virtual int64_t monotonicMs() = 0;
  /// Wall time as an RFC 3339 UTC timestamp with milliseconds.
  virtual std::string timestamp() = 0;
  virtual void sleepMs(int64_t ms) = 0;
};

/// Formats milliseconds since the Unix epoch as an RFC 3339 UTC timestamp
/// with milliseconds, e.g. "2026-11-21T23:41:05.123Z".
std::string formatTimestamp(int64_t unixMs);

/// Parses an RFC 3339 timestamp ("YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm)")
/// into milliseconds since the Unix epoch; nullopt when malformed.
std::optional<int64_t> parseTimestamp(std::string_view text);

/// The process's real clocks (thread-safe).
Clock &systemClock();

/// A clock for tests: starts at `startMs`, advances only in sleepMs/advance.
/// Its timestamp() is 2026-01-01T00:00:00.000Z plus the current `now`.
class FakeClock : public Clock {
public:
  explicit FakeClock(int64_t startMs = 0) : now(startMs) {}
  int64_t monotonicMs() override { return now; }
  std::string timestamp() override;
  void sleepMs(int64_t ms) override { now += ms; slept += ms; }
  void advance(int64_t ms) { now += ms; }
  int64_t totalSlept() const { return slept; }

private:
  int64_t now;
  int64_t slept = 0;
};

} // namespace iterc::rt

#endif // ITERC_RT_CLOCK_H
