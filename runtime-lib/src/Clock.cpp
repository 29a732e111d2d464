//===- Clock.cpp - Time, behind an interface ------------------------------===//
//
// This file implements the process's real clock (steady_clock for elapsed
// time, system_clock for timestamps), the fake clock's deterministic
// timestamps, and RFC 3339 formatting and parsing. Calendar arithmetic is
// done by hand (civil-from-days) so nothing depends on the C library's time
// zone state, and every function is thread-safe.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Clock.h"

#include <chrono>
#include <cstdio>
#include <thread>

using namespace iterc::rt;

namespace {

/// 2026-01-01T00:00:00Z: where FakeClock's timestamps start.
constexpr int64_t fakeEpochMs = 1767225600000LL;

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = floorDiv(y, 400);
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civilFromDays(int64_t z, int64_t &y, unsigned &m, unsigned &d) {
  z += 719468;
  const int64_t era = floorDiv(z, 146097);
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned daysInMonth(int64_t y, unsigned m) {
  static const unsigned days[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : days[m - 1];
}

class SystemClock : public Clock {
public:
  int64_t monotonicMs() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
        .count();
  }
  std::string timestamp() override {
    using namespace std::chrono;
    int64_t ms =
        duration_cast<milliseconds>(system_clock::now().time_since_epoch())
            .count();
    // Events come many per millisecond: reuse the text of the last second
    // and rewrite only the milliseconds.
    thread_local int64_t cachedSecond = -1;
    thread_local std::string cached;
    int64_t second = ms >= 0 ? ms / 1000 : -1;
    if (second < 0 || second != cachedSecond || cached.size() < 5) {
      cached = formatTimestamp(ms);
      cachedSecond = second;
      return cached;
    }
    int64_t milli = ms % 1000;
    size_t at = cached.size() - 4;  // "...ss.mmmZ"
    cached[at] = char('0' + milli / 100);
    cached[at + 1] = char('0' + milli / 10 % 10);
    cached[at + 2] = char('0' + milli % 10);
    return cached;
  }
  void sleepMs(int64_t ms) override {
    if (ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

/// Reads exactly `n` digits at `pos`; false when they are not all digits.
bool readDigits(std::string_view s, size_t &pos, size_t n, int64_t &out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t &pos, char c) {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

} // namespace

std::string iterc::rt::formatTimestamp(int64_t unixMs) {
  const int64_t msPerDay = 86400000;
  int64_t days = floorDiv(unixMs, msPerDay);
  int64_t msOfDay = unixMs - days * msPerDay;
  int64_t y;
  unsigned m, d;
  civilFromDays(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(y), m, d,
                static_cast<int>(msOfDay / 3600000),
                static_cast<int>(msOfDay / 60000 % 60),
                static_cast<int>(msOfDay / 1000 % 60),
                static_cast<int>(msOfDay % 1000));
  return buf;
}

std::optional<int64_t> iterc::rt::parseTimestamp(std::string_view s) {
  size_t pos = 0;
  int64_t year, month, day, hour, minute, second;
  if (!readDigits(s, pos, 4, year) || !expect(s, pos, '-') ||
      !readDigits(s, pos, 2, month) || !expect(s, pos, '-') ||
      !readDigits(s, pos, 2, day))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
    return std::nullopt;
  ++pos;
  if (!readDigits(s, pos, 2, hour) || !expect(s, pos, ':') ||
      !readDigits(s, pos, 2, minute) || !expect(s, pos, ':') ||
      !readDigits(s, pos, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 ||
      day > daysInMonth(year, static_cast<unsigned>(month)) || hour > 23 ||
      minute > 59 || second > 60)
    return std::nullopt;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0)
      return std::nullopt;
  }
  int64_t offsetMin = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh, om;
    if (!readDigits(s, pos, 2, oh) || !expect(s, pos, ':') ||
        !readDigits(s, pos, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offsetMin = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  if (second == 60) // A leap second folds onto the next second.
    second = 59, ms += 1000;
  int64_t days = daysFromCivil(year, static_cast<unsigned>(month),
                               static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute - offsetMin) * 60000 +
         second * 1000 + ms;
}

Clock &iterc::rt::systemClock() {
  static SystemClock clock;
  return clock;
}

std::string FakeClock::timestamp() { return formatTimestamp(fakeEpochMs + now); }
