//===- ByteSize.h - Sizes such as "4MiB" in properties ---------*- C++ -*-===//
//
// A tool node's `max_output` is a size: a byte count with a binary unit
// ("512KiB", "4MiB", "1GiB") or a plain number of bytes. One parser so that
// the check (C145) and the value the table gets agree.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_SEMA_BYTESIZE_H
#define ITERC_SEMA_BYTESIZE_H

#include <cstdint>
#include <optional>
#include <string_view>

namespace iterc::sema {

/// The smallest and largest `max_output` a tool may declare.
constexpr int64_t minMaxOutput = 1024;
constexpr int64_t maxMaxOutput = int64_t(1) << 30;

/// The bytes `text` names: digits, then optionally B, KiB, MiB or GiB
/// (blanks allowed before the unit). nullopt for anything else, and for a
/// size past 1 TiB.
std::optional<int64_t> parseByteSize(std::string_view text);

} // namespace iterc::sema

#endif // ITERC_SEMA_BYTESIZE_H
