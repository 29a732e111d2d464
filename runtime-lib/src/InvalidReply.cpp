//===- InvalidReply.cpp - What the log keeps of an invalid reply ----------===//
//
// This file implements InvalidReply (see InvalidReply.h).
//
//===----------------------------------------------------------------------===//
#include "InvalidReply.h"

#include <optional>

using namespace iterc::rt;

std::string iterc::rt::utf8Prefix(std::string_view text, size_t limit) {
  if (text.size() <= limit)
    return std::string(text);
  size_t end = limit;
  // Back to the first byte of the sequence that the cut would split.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end));
}

InvalidReply InvalidReply::of(const std::string &reply,
                              std::vector<std::string> problems) {
  InvalidReply r;
  r.size = reply.size();
  r.cut = reply.size() > invalidReplyExcerptBytes;
  if (r.cut) {
    r.text = utf8Prefix(reply, invalidReplyExcerptBytes);
    r.sha256 = sha256Hex(reply);
    if (problems.size() > invalidReplyMaxProblems)
      problems.resize(invalidReplyMaxProblems);
    for (std::string &p : problems)
      if (p.size() > invalidReplyMaxProblemBytes)
        p = utf8Prefix(p, invalidReplyMaxProblemBytes) + "...";
  } else {
    r.text = reply;
  }
  r.problems = std::move(problems);
  return r;
}

std::optional<InvalidReply> InvalidReply::fromRecord(const Json &response) {
  if (!response.is_object() || !response.value("text_cut", false))
    return std::nullopt;
  InvalidReply r;
  r.cut = true;
  r.text = response.value("text", std::string());
  r.size = response.value("text_size", size_t(0));
  r.sha256 = response.value("text_sha256", std::string());
  for (const Json &p : response.value("problems", Json::array()))
    if (p.is_string())
      r.problems.push_back(p.get<std::string>());
  if (r.problems.empty())
    r.problems.push_back("the reply is not valid");
  return r;
}

void InvalidReply::addTo(Json &response) const {
  if (!cut)
    return;
  response["text"] = text;
  response["text_cut"] = true;
  response["text_size"] = size;
  response["text_sha256"] = sha256;
  response["problems"] = problems;
}

std::string InvalidReply::feedback() const {
  std::string out = "Your reply does not match the required JSON schema:\n";
  for (const std::string &p : problems)
    out += "- " + p + "\n";
  if (cut)
    out += "(Your reply was " + std::to_string(size) +
           " bytes long; only its first " + std::to_string(text.size()) +
           " are shown above.)\n";
  out += "Reply again with only the corrected JSON object.";
  return out;
}
