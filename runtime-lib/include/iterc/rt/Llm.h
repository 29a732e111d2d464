//===- Llm.h - Language-model providers --------------------------*- C++ -*-===//
//
// This file declares one request/response shape for every provider and the
// providers themselves: OpenAI-compatible chat completions (OpenAI,
// OpenRouter, Ollama's /v1, vLLM, llama.cpp), Anthropic messages, and the
// replay provider that answers from a cassette (with a recorder that wraps a
// real provider and writes one). Model strings select the provider:
// `openai/gpt-4o-mini`, `anthropic/claude-...`, `ollama/llama3.2`,
// `openrouter/...`; keys and base URLs come from the conventional variables.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_LLM_H
#define ITERC_RT_LLM_H

#include "iterc/rt/Clock.h"
#include "iterc/rt/Core.h"
#include "iterc/rt/Http.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace iterc::rt {

class SecretMask;

struct LlmMessage {
  std::string role;     ///< system | user | assistant | tool
  std::string content;
  Json toolCalls;       ///< assistant: [{id, name, arguments}]
  std::string toolCallId;  ///< tool: which call this answers
};

struct ToolSpec {
  std::string name;
  std::string description;
  Json inputSchema;
};

struct LlmRequest {
  std::string provider;  ///< openai, anthropic, ollama, openrouter, replay
  std::string model;     ///< The model name without the provider prefix.
  std::vector<LlmMessage> messages;
  /// JSON Schema for structured output, or none. Shared and immutable: a
  /// node sends the same schema with every call without copying it.
  std::shared_ptr<const Json> outputSchema;
  std::string schemaName;
  std::vector<ToolSpec> tools;
  std::optional<int64_t> maxTokens;
  /// The reply cap the run's budget reserved for this call, sent when
  /// maxTokens is unset (maxTokens, when set, is never above it). Not part
  /// of the canonical form: a request keeps its key whatever the budget.
  std::optional<int64_t> replyCap;
  std::string reasoningEffort;
  /// Deadlines of each HTTP attempt of this call in ms (the node's
  /// `request_timeout`); 0: the provider's. Not part of the canonical form.
  RequestTimeouts timeouts;
  /// Abandons the call in flight (see HttpRequest::abandon); may be empty.
  std::function<std::optional<Error>()> abandon;

  bool hasOutputSchema() const {
    return outputSchema && !outputSchema->is_null();
  }
  /// The output schema, or null.
  const Json &schema() const;

  /// Canonical JSON of the request: what cassettes key on.
  Json canonical() const;
  /// The canonical form as text with every object's keys sorted. The
  /// engine fills it in once per call; providers that key on requests
  /// (replay, record) use it instead of computing it again.
  std::string matchKey;
  /// matchKey, computed now (sorted-key dump of canonical()).
  std::string computeMatchKey() const;
};

struct LlmUsage {
  int64_t inputTokens = 0;
  int64_t outputTokens = 0;
};

struct LlmResponse {
  std::string text;      ///< Text content (structured output: the JSON).
  Json toolCalls = Json::array();  ///< [{id, name, arguments (object)}]
  LlmUsage usage;
  std::string finishReason;
};

class LlmProvider {
public:
  virtual ~LlmProvider() = default;
  virtual Expected<LlmResponse> complete(const LlmRequest &request) = 0;
};

/// The cassette form of a response: {"text", "tool_calls", "usage":
/// {"input_tokens", "output_tokens"}, "finish_reason"}.
Json llmResponseToJson(const LlmResponse &response);
/// Reads the cassette form back; InvalidInput on a malformed value.
Expected<LlmResponse> llmResponseFromJson(const Json &json);

/// The most of one message's text the run's log keeps (32 KiB).
constexpr size_t kLoggedMessageBytes = size_t(32) << 10;

/// messages[from...] as the log records what a call sent: [{role, content,
/// tool_calls?, tool_call_id?}], each content passed through `redact` (may
/// be empty) and then cut to kLoggedMessageBytes.
Json messagesForLog(
    const std::vector<LlmMessage> &messages, size_t from,
    const std::function<std::string(const std::string &)> &redact);

/// Splits "openai/gpt-4o-mini" into provider and model. A model string
/// without a known prefix is an InvalidInput error.
Expected<std::pair<std::string, std::string>>
splitModel(const std::string &model);

/// Where a provider lives and how to authenticate, read from the
/// environment (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY,
/// ANTHROPIC_BASE_URL, OLLAMA_BASE_URL, OPENROUTER_API_KEY, ...).
struct ProviderConfig {
  std::string baseUrl;
  std::string apiKey;
  RetryPolicy retry;
  /// Per attempt. Without streaming the reply's first byte comes when the
  /// model has finished, so a long reasoning call needs minutes: the
  /// defaults are those of the providers' own clients (10 minutes in all),
  /// with 10 s to connect and 5 minutes for the first byte. ITERC_CONNECT_
  /// TIMEOUT, ITERC_FIRST_BYTE_TIMEOUT and ITERC_REQUEST_TIMEOUT change them
  /// for a run; a node's `request_timeout` for its calls.
  RequestTimeouts timeouts{10000, 300000, 600000};
};
ProviderConfig providerConfigFromEnv(const std::string &provider);

std::unique_ptr<LlmProvider>
makeOpenAiProvider(ProviderConfig config, HttpTransport &transport,
                   Clock &clock);
std::unique_ptr<LlmProvider>
makeAnthropicProvider(ProviderConfig config, HttpTransport &transport,
                      Clock &clock);

/// The provider for a prefix from splitModel: openai, openrouter and ollama
/// speak chat completions, anthropic messages. InvalidInput for replay (it
/// needs a cassette) or an unknown prefix.
Expected<std::unique_ptr<LlmProvider>>
makeProvider(const std::string &provider, ProviderConfig config,
             HttpTransport &transport, Clock &clock);

/// Answers from a cassette: a JSON file {"version":1,"entries":[{"request":
/// canonical, "response": {...}}]}. A request with no entry fails with
/// ErrorCode::ReplayMiss naming the request.
class ReplayProvider : public LlmProvider {
public:
  static Expected<std::unique_ptr<ReplayProvider>>
  load(const std::string &path);
  static std::unique_ptr<ReplayProvider> fromJson(const Json &cassette);
  /// Like fromJson, but a malformed cassette is an InvalidInput error;
  /// `source` names the cassette in errors and replay misses.
  static Expected<std::unique_ptr<ReplayProvider>>
  parse(const Json &cassette, const std::string &source);
  Expected<LlmResponse> complete(const LlmRequest &request) override;
  /// Secrets masked in a cassette written with the same mask (see
  /// RecordingProvider::setMask): requests are matched with them masked.
  void setMask(const SecretMask *m) { mask = m; }

private:
  const SecretMask *mask = nullptr;
  std::string source;
  size_t entryCount = 0;
  std::unordered_map<std::string, std::vector<LlmResponse>> entries;
  std::unordered_map<std::string, size_t> used;
  std::mutex mutex;
};

/// Wraps a provider and appends every exchange to a cassette file.
class RecordingProvider : public LlmProvider {
public:
  RecordingProvider(LlmProvider &inner, std::string path)
      : inner(inner), path(std::move(path)) {}
  Expected<LlmResponse> complete(const LlmRequest &request) override;
  Status flush();
  /// Masks these secrets in every request and response it writes, so that
  /// a cassette holds no secret (a replay given the same mask still
  /// matches).
  void setMask(const SecretMask *m) { mask = m; }

private:
  const SecretMask *mask = nullptr;
  LlmProvider &inner;
  std::string path;
  Json entries = Json::array();
  std::mutex mutex;
};

/// Provider selection for a run: by prefix, or everything to one provider
/// (replay).
class ProviderSet {
public:
  void add(const std::string &prefix, std::unique_ptr<LlmProvider> p);
  void setOverride(LlmProvider *all) { override_ = all; }
  /// The provider for a model string; an error when none is configured.
  Expected<LlmProvider *> forModel(const std::string &provider);

private:
  std::map<std::string, std::unique_ptr<LlmProvider>> providers;
  LlmProvider *override_ = nullptr;
};

} // namespace iterc::rt

#endif // ITERC_RT_LLM_H
