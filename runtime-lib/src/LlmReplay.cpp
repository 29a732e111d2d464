//===- LlmReplay.cpp - Cassettes: replaying and recording model calls -----===//
//
// This file implements the replay provider, which answers every request
// from a cassette keyed by the request's canonical JSON, and the recorder,
// which wraps a real provider and writes such a cassette. Keys are compared
// on a key-sorted dump, so a hand-edited cassette may order object keys as
// it likes. Several entries for one request are served in order, then the
// last one repeats. A request with no entry fails loudly, naming the model,
// the start of the last user message and the cassette.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Llm.h"
#include "iterc/rt/Redact.h"

#include "FileText.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// Appends `text` as a JSON string exactly as Json::dump(-1, ' ', false,
/// replace) writes it: printable ASCII as it is, anything else (escapes,
/// UTF-8, invalid bytes) through the JSON library itself.
void appendString(std::string &out, std::string_view text) {
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
      out += Json(std::string(text))
                 .dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out.append(text);
  out += '"';
}

/// Appends `value` as compact JSON with every object's keys in sorted
/// (byte) order — what dumping it through std::map-backed objects gives —
/// without building a sorted copy.
void appendSorted(std::string &out, const Json &value) {
  switch (value.type()) {
  case Json::value_t::object: {
    const Json::object_t &object = value.get_ref<const Json::object_t &>();
    std::vector<const Json::object_t::value_type *> members;
    members.reserve(object.size());
    for (const auto &member : object)
      members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](const auto *a, const auto *b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i)
        out += ',';
      appendString(out, members[i]->first);
      out += ':';
      appendSorted(out, members[i]->second);
    }
    out += '}';
    return;
  }
  case Json::value_t::array: {
    out += '[';
    bool first = true;
    for (const Json &item : value) {
      if (!first)
        out += ',';
      first = false;
      appendSorted(out, item);
    }
    out += ']';
    return;
  }
  case Json::value_t::string:
    appendString(out, value.get_ref<const std::string &>());
    return;
  case Json::value_t::number_integer:
    out += std::to_string(value.get<int64_t>());
    return;
  case Json::value_t::number_unsigned:
    out += std::to_string(value.get<uint64_t>());
    return;
  case Json::value_t::boolean:
    out += value.get<bool>() ? "true" : "false";
    return;
  case Json::value_t::null:
    out += "null";
    return;
  default: // floating point (the library's shortest round trip), binary
    out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
}

/// The match key of a canonical request: its compact dump with every
/// object's keys sorted.
std::string sortedKey(const Json &request) {
  std::string out;
  appendSorted(out, request);
  return out;
}

std::string lastUserMessage(const LlmRequest &request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it)
    if (it->role == "user")
      return it->content;
  return "";
}

/// The start of a message, quoted, on one line and valid UTF-8 (a cut
/// character or invalid bytes become U+FFFD), fit for any log or event.
std::string preview(const std::string &text, size_t max = 80) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return Json(out).dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace

Expected<std::unique_ptr<ReplayProvider>>
ReplayProvider::parse(const Json &cassette, const std::string &source) {
  auto bad = [&](const std::string &why) {
    return Error(ErrorCode::InvalidInput,
                 "invalid cassette " + source + ": " + why);
  };
  if (!cassette.is_object())
    return bad("expected a JSON object {\"version\":1,\"entries\":[...]}");
  if (cassette.contains("version") &&
      !(cassette["version"].is_number_integer() &&
        cassette["version"].get<int64_t>() == 1))
    return bad("unsupported version " + cassette["version"].dump() +
               " (expected 1)");
  if (!cassette.contains("entries") || !cassette["entries"].is_array())
    return bad("missing \"entries\" array");
  auto provider = std::make_unique<ReplayProvider>();
  provider->source = source;
  size_t index = 0;
  for (const Json &entry : cassette["entries"]) {
    std::string where = "entry " + std::to_string(index++);
    if (!entry.is_object() || !entry.contains("request") ||
        !entry.contains("response"))
      return bad(where + " needs \"request\" and \"response\"");
    if (!entry["request"].is_object())
      return bad(where + ": \"request\" is not an object");
    auto response = llmResponseFromJson(entry["response"]);
    if (!response)
      return bad(where + ": " + response.error().message);
    provider->entries[sortedKey(entry["request"])].push_back(
        std::move(*response));
    ++provider->entryCount;
  }
  return provider;
}

std::unique_ptr<ReplayProvider> ReplayProvider::fromJson(const Json &cassette) {
  auto parsed = parse(cassette, "<in-memory cassette>");
  if (parsed)
    return std::move(*parsed);
  // A malformed cassette replays nothing; every call then misses and the
  // miss names what was wrong.
  auto empty = std::make_unique<ReplayProvider>();
  empty->source = "<in-memory cassette> (" + parsed.error().message + ")";
  return empty;
}

Expected<std::unique_ptr<ReplayProvider>>
ReplayProvider::load(const std::string &path) {
  std::optional<std::string> text = readFileText(path);
  if (!text)
    return Error(ErrorCode::InvalidInput, "cannot open cassette '" + path +
                                              "': " + std::strerror(errno));
  auto json = parseJson(*text);
  if (!json)
    return Error(ErrorCode::InvalidInput,
                 "cassette '" + path + "' is not valid JSON");
  return parse(*json, "'" + path + "'");
}

Expected<LlmResponse> ReplayProvider::complete(const LlmRequest &request) {
  std::string key = mask && !mask->empty()
                        ? sortedKey(mask->apply(request.canonical()))
                    : request.matchKey.empty() ? request.computeMatchKey()
                                               : request.matchKey;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = entries.find(key);
  if (it == entries.end() || it->second.empty()) {
    std::string model = request.provider.empty()
                            ? request.model
                            : request.provider + "/" + request.model;
    return Error(ErrorCode::ReplayMiss,
                 "replay miss: no entry for model '" + model +
                     "' with last user message " +
                     preview(mask ? mask->apply(lastUserMessage(request))
                                  : lastUserMessage(request)) +
                     " in cassette " + source + " (" +
                     std::to_string(entryCount) +
                     " entries); record it again with a real provider");
  }
  size_t &n = used[key];
  size_t index = std::min(n, it->second.size() - 1);
  ++n;
  return it->second[index];
}

//===----------------------------------------------------------------------===//
// RecordingProvider
//===----------------------------------------------------------------------===//

Expected<LlmResponse> RecordingProvider::complete(const LlmRequest &request) {
  // The slot is taken when the call starts, so concurrent calls are written
  // in the order they were made; failed calls leave a null that flush skips.
  size_t slot;
  {
    std::lock_guard<std::mutex> lock(mutex);
    slot = entries.size();
    entries.push_back(nullptr);
  }
  Json canonical = request.canonical();
  auto result = inner.complete(request);
  if (result) {
    Json entry = Json::object();
    entry["request"] = mask ? mask->apply(canonical) : std::move(canonical);
    entry["response"] = mask ? mask->apply(llmResponseToJson(*result))
                             : llmResponseToJson(*result);
    std::lock_guard<std::mutex> lock(mutex);
    entries[slot] = std::move(entry);
  }
  return result;
}

Status RecordingProvider::flush() {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mutex);
    Json cassette = Json::object();
    cassette["version"] = 1;
    Json recorded = Json::array();
    for (const Json &entry : entries)
      if (!entry.is_null())
        recorded.push_back(entry);
    cassette["entries"] = std::move(recorded);
    text = cassette.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  bool opened = false;
  if (!writeFileText(tmp, text, &opened)) {
    if (!opened)
      return Error(ErrorCode::Store, "cannot write cassette '" + tmp +
                                         "': " + std::strerror(errno));
    std::remove(tmp.c_str());
    return Error(ErrorCode::Store, "cannot write cassette '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return Error(ErrorCode::Store,
                 "cannot write cassette '" + path + "': " + std::strerror(err));
  }
  return Status::success();
}

std::string LlmRequest::computeMatchKey() const {
  // The same text as sortedKey(canonical()), written straight in sorted key
  // order instead of building the canonical document first: this runs on
  // every model call.
  std::string out;
  size_t size = 256;
  for (const LlmMessage &m : messages)
    size += m.content.size() + 48;
  out.reserve(size);
  out += "{\"max_tokens\":";
  out += maxTokens ? std::to_string(*maxTokens) : std::string("null");
  out += ",\"messages\":[";
  for (size_t i = 0; i < messages.size(); ++i) {
    const LlmMessage &m = messages[i];
    out += i ? ",{\"content\":" : "{\"content\":";
    appendString(out, m.content);
    out += ",\"role\":";
    appendString(out, m.role);
    if (!m.toolCallId.empty()) {
      out += ",\"tool_call_id\":";
      appendString(out, m.toolCallId);
    }
    if (!m.toolCalls.is_null() && !m.toolCalls.empty()) {
      out += ",\"tool_calls\":";
      appendSorted(out, m.toolCalls);
    }
    out += '}';
  }
  out += "],\"model\":";
  appendString(out, model);
  out += ",\"output_schema\":";
  appendSorted(out, schema());
  out += ",\"provider\":";
  appendString(out, provider);
  out += ",\"reasoning_effort\":";
  appendString(out, reasoningEffort);
  out += ",\"schema_name\":";
  appendString(out, schemaName);
  out += ",\"tools\":[";
  for (size_t i = 0; i < tools.size(); ++i) {
    const ToolSpec &t = tools[i];
    out += i ? ",{\"description\":" : "{\"description\":";
    appendString(out, t.description);
    out += ",\"input_schema\":";
    appendSorted(out, t.inputSchema);
    out += ",\"name\":";
    appendString(out, t.name);
    out += '}';
  }
  out += "]}";
  return out;
}
