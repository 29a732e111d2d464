//===- AppPrompts.cpp - What each model call sent, for inspect and report -===//
//
// This file renders the messages the engine records with each llm_response
// event (`sent`: system and user messages, the assistant's tool calls and
// the tool results, secrets already redacted): one compact line per message
// under the call in `inspect --events`, the whole text with `inspect
// --prompts`, and a "Model inputs" section in the Markdown report.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"

#include <algorithm>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

/// What a message says: its text, else the tools it calls.
std::string messageText(const Json &m) {
  std::string text = m.value("content", std::string());
  if (text.empty() && m.contains("tool_calls"))
    text = "calls " + dumpJson(m["tool_calls"]);
  return text;
}

/// "user", "tool (call_1)".
std::string roleLabel(const Json &m) {
  std::string role = m.value("role", std::string("?"));
  std::string callId = m.value("tool_call_id", std::string());
  return callId.empty() ? role : role + " (" + callId + ")";
}

/// A code fence longer than any run of backticks in `text`.
std::string fenceFor(const std::string &text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

const Json &sentOf(const Event &e) {
  static const Json none = Json::array();
  auto it = e.data.find("sent");
  return it != e.data.end() && it->is_array() ? *it : none;
}

} // namespace

std::string iterc::rt::app::sentSummary(const Event &e, size_t width) {
  std::string out;
  for (const Json &m : sentOf(e)) {
    std::string text;
    for (char c : messageText(m))
      text += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    if (text.size() > width)
      text = text.substr(0, width) + "...";
    out += "sent " + roleLabel(m) + ": " + text + "\n";
  }
  return out;
}

std::string iterc::rt::app::sentInFull(const std::vector<Event> &events) {
  std::string out;
  int calls = 0;
  for (const Event &e : events) {
    if (e.type != "llm_response")
      continue;
    ++calls;
    out += "#" + std::to_string(e.seq) + "  " + e.nodeId + "  " +
           e.data.value("model", std::string()) + "  call " +
           std::to_string(e.data.value("attempt", int64_t(0)) + 1) + "\n";
    const Json &sent = sentOf(e);
    if (sent.empty())
      out += "  (nothing new was sent, or the log predates recorded inputs)\n";
    for (const Json &m : sent) {
      out += "  --- " + roleLabel(m) + "\n";
      std::string text = messageText(m);
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
          end = text.size();
        out += "  " + text.substr(start, end - start) + "\n";
        start = end + 1;
      }
    }
  }
  if (calls == 0)
    out += "  (no model call)\n";
  return out;
}

std::string
iterc::rt::app::modelInputsMarkdown(const std::vector<Event> &events) {
  std::string md;
  std::map<std::string, int> callsOf; ///< node -> calls so far
  for (const Event &e : events) {
    if (e.type != "llm_response")
      continue;
    int call = ++callsOf[e.branchId + "\n" + e.nodeId];
    md += "### `" + e.nodeId + "` call " + std::to_string(call) +
          (e.branchId.empty() ? "" : " [" + e.branchId + "]") + " (" +
          e.data.value("model", std::string()) + ")\n\n";
    const Json &sent = sentOf(e);
    if (sent.empty())
      md += "Not recorded.\n\n";
    for (const Json &m : sent) {
      std::string text = messageText(m);
      std::string fence = fenceFor(text);
      md += "**" + roleLabel(m) + "**\n\n" + fence + "text\n" + text +
            (text.empty() || text.back() != '\n' ? "\n" : "") + fence + "\n\n";
    }
  }
  return md;
}
