//===- Utf8.h - UTF-8 checks, safe cuts and escapes -------------*- C++ -*-===//
//
// This file declares the UTF-8 helpers that diagnostics rely on: finding the
// first invalid byte, shortening a text without splitting a code point, and
// showing invalid bytes as `\xNN` so that every renderer (text, JSON, SARIF)
// emits valid UTF-8 whatever the input held.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_BASIC_UTF8_H
#define ITERC_BASIC_UTF8_H

#include <cstddef>
#include <string>
#include <string_view>

namespace iterc {

/// Length of the well-formed UTF-8 sequence starting at `text[at]` (1 to 4),
/// or 0 when the bytes there are not one (overlong forms, surrogates and
/// code points above U+10FFFF are not well formed).
size_t utf8SequenceLength(std::string_view text, size_t at);

/// Offset of the first byte that is not part of a well-formed sequence, or
/// npos when the text is valid UTF-8.
size_t findInvalidUtf8(std::string_view text);

/// The longest prefix of `text` of at most `maxBytes` bytes that does not end
/// inside a code point.
std::string_view utf8Prefix(std::string_view text, size_t maxBytes);

/// `text` shortened to at most `maxBytes` bytes (plus the marker), never
/// splitting a code point; `marker` is appended when something was cut.
std::string truncateUtf8(std::string_view text, size_t maxBytes,
                         std::string_view marker = "...");

/// `text` with every byte that is not part of a well-formed sequence shown
/// as `\xNN`; valid text is returned unchanged.
std::string escapeInvalidUtf8(std::string_view text);

} // namespace iterc

#endif // ITERC_BASIC_UTF8_H
