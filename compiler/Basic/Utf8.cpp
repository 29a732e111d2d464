//===- Utf8.cpp - UTF-8 checks, safe cuts and escapes ---------------------===//
//
// This file implements the helpers declared in Utf8.h.
//
//===----------------------------------------------------------------------===//
#include "Basic/Utf8.h"

#include <cstdint>

using namespace iterc;

size_t iterc::utf8SequenceLength(std::string_view text, size_t at) {
  if (at >= text.size())
    return 0;
  unsigned char c = text[at];
  if (c < 0x80)
    return 1;
  size_t len = (c & 0xE0) == 0xC0   ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
  if (len == 0 || at + len > text.size() || (len == 2 && c < 0xC2))
    return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = text[at + k];
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

size_t iterc::findInvalidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8SequenceLength(text, i);
    if (len == 0)
      return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string_view iterc::utf8Prefix(std::string_view text, size_t maxBytes) {
  if (text.size() <= maxBytes)
    return text;
  size_t end = maxBytes;
  // Step back over continuation bytes to the start of the cut sequence; a
  // sequence is at most 4 bytes, so look back no further than 3.
  for (size_t back = 0; back < 3 && end > 0; ++back) {
    unsigned char c = text[end];
    if ((c & 0xC0) != 0x80)
      break;
    --end;
  }
  if ((static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    end = maxBytes; // Not UTF-8 at all here: cut at the byte limit.
  return text.substr(0, end);
}

std::string iterc::truncateUtf8(std::string_view text, size_t maxBytes,
                                std::string_view marker) {
  if (text.size() <= maxBytes)
    return std::string(text);
  std::string out(utf8Prefix(text, maxBytes));
  out += marker;
  return out;
}

std::string iterc::escapeInvalidUtf8(std::string_view text) {
  size_t bad = findInvalidUtf8(text);
  if (bad == std::string_view::npos)
    return std::string(text);
  static const char hex[] = "0123456789ABCDEF";
  std::string out(text.substr(0, bad));
  for (size_t i = bad; i < text.size();) {
    size_t len = utf8SequenceLength(text, i);
    if (len > 0) {
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    unsigned char c = text[i++];
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}
