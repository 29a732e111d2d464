//===- InvalidReply.h - What the log keeps of an invalid reply --*- C++ -*-===//
//
// This file declares how a model reply that does not match its schema is
// recorded. Such a reply is only there to diagnose (a resume never uses it
// as an output), so the log keeps an excerpt of a long one with the size
// and SHA-256 of the whole: a model that answers 50 MB of garbage on every
// attempt does not grow the log by 50 MB per attempt. The re-ask sends the
// model the same excerpt, so that a resumed run, replaying the excerpt from
// the log, makes exactly the same next request.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_INVALIDREPLY_H
#define ITERC_RT_SRC_INVALIDREPLY_H

#include "iterc/rt/Core.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterc::rt {

/// The longest invalid reply kept whole.
constexpr size_t invalidReplyExcerptBytes = 16 * 1024;
/// The most schema problems kept per invalid reply, and their longest text.
constexpr size_t invalidReplyMaxProblems = 50;
constexpr size_t invalidReplyMaxProblemBytes = 1024;

/// At most `limit` bytes from the start of `text`, cut before a UTF-8
/// sequence that would not fit whole.
std::string utf8Prefix(std::string_view text, size_t limit);

/// What the log keeps of one invalid reply.
struct InvalidReply {
  std::string text;                  ///< The reply, or its excerpt.
  bool cut = false;                  ///< `text` is an excerpt.
  size_t size = 0;                   ///< Bytes of the whole reply.
  std::string sha256;                ///< Of the whole reply (only when cut).
  std::vector<std::string> problems; ///< Bounded, as sent to the model.

  /// `reply` with its problems, shortened as the log keeps it.
  static InvalidReply of(const std::string &reply,
                         std::vector<std::string> problems);
  /// The one recorded in an llm_response's `response` (replayed by a
  /// resume): nullopt when that reply was kept whole.
  static std::optional<InvalidReply> fromRecord(const Json &response);
  /// Adds `text_cut`, `text_size`, `text_sha256` and `problems` to an
  /// llm_response's `response`.
  void addTo(Json &response) const;
  /// The re-ask: what was wrong, and that the reply was cut.
  std::string feedback() const;
};

} // namespace iterc::rt

#endif // ITERC_RT_SRC_INVALIDREPLY_H
