//===- LlmLog.cpp - What a model call sent, as the run's log keeps it -----===//
//
// This file turns the messages of a model call (system, user, the
// assistant's tool calls and the tool results) into the JSON the engine
// records with each llm_response event, so that `inspect` and the report
// can show every step's input. Secrets are replaced before a message is
// cut to its size bound, so that a cut never leaves part of one behind.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Llm.h"

using namespace iterc::rt;

namespace {

/// `text` cut to at most `max` bytes on a UTF-8 character boundary, with a
/// note of how much was left out.
std::string clipUtf8(const std::string &text, size_t max) {
  if (text.size() <= max)
    return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  return text.substr(0, cut) + "\n[... " + std::to_string(text.size() - cut) +
         " more bytes not recorded]";
}

} // namespace

Json iterc::rt::messagesForLog(
    const std::vector<LlmMessage> &messages, size_t from,
    const std::function<std::string(const std::string &)> &redact) {
  Json out = Json::array();
  for (size_t i = from; i < messages.size(); ++i) {
    const LlmMessage &m = messages[i];
    Json jm = Json::object();
    jm["role"] = m.role;
    jm["content"] =
        clipUtf8(redact ? redact(m.content) : m.content, kLoggedMessageBytes);
    if (!m.toolCalls.is_null() && !m.toolCalls.empty())
      jm["tool_calls"] = m.toolCalls;
    if (!m.toolCallId.empty())
      jm["tool_call_id"] = m.toolCallId;
    out.push_back(std::move(jm));
  }
  return out;
}
