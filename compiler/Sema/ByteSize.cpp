//===- ByteSize.cpp - Sizes such as "4MiB" in properties ------------------===//
//
// Binary units only (KiB = 1024 bytes), so "4MiB" means what the runtime's
// cap counts; decimal "MB" is refused rather than guessed.
//
//===----------------------------------------------------------------------===//
#include "ByteSize.h"

std::optional<int64_t> iterc::sema::parseByteSize(std::string_view text) {
  size_t i = 0;
  int64_t value = 0;
  constexpr int64_t limit = int64_t(1) << 40;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + (text[i] - '0');
    if (value > limit)
      return std::nullopt;
  }
  if (i == 0)
    return std::nullopt;
  while (i < text.size() && text[i] == ' ')
    ++i;
  std::string_view unit = text.substr(i);
  int64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = int64_t(1) << 10;
  else if (unit == "MiB")
    scale = int64_t(1) << 20;
  else if (unit == "GiB")
    scale = int64_t(1) << 30;
  else
    return std::nullopt;
  if (value > limit / scale)
    return std::nullopt;
  return value * scale;
}
