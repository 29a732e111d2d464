//===- Llm.cpp - Model strings, provider configuration and selection ------===//
//
// This file implements what every provider shares: splitting a model string
// into provider and model, reading a provider's base URL and key from the
// environment, the canonical form of a request (the cassette key), the
// cassette form of a response, and the per-run provider set. The providers
// themselves are in LlmProviders.cpp and LlmReplay.cpp.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Llm.h"

#include <cstdlib>

using namespace iterc::rt;

namespace {

const char *const kKnownProviders[] = {"openai", "anthropic", "ollama",
                                       "openrouter", "replay"};

std::string knownPrefixList() {
  std::string out;
  for (const char *p : kKnownProviders) {
    if (!out.empty())
      out += ", ";
    out += p;
    out += "/";
  }
  return out;
}

bool isKnownProvider(const std::string &name) {
  for (const char *p : kKnownProviders)
    if (name == p)
      return true;
  return false;
}

std::string envOr(const char *name, const std::string &fallback) {
  const char *value = std::getenv(name);
  return (value && *value) ? std::string(value) : fallback;
}

std::string stripTrailingSlashes(std::string url) {
  while (url.size() > 1 && url.back() == '/')
    url.pop_back();
  return url;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

Expected<std::pair<std::string, std::string>>
iterc::rt::splitModel(const std::string &model) {
  size_t slash = model.find('/');
  if (slash == std::string::npos)
    return Error(ErrorCode::InvalidInput,
                 "model '" + model + "' has no provider prefix; expected " +
                     knownPrefixList() + "<model>");
  std::string provider = model.substr(0, slash);
  std::string name = model.substr(slash + 1);
  if (!isKnownProvider(provider))
    return Error(ErrorCode::InvalidInput,
                 "model '" + model + "' has an unknown provider '" + provider +
                     "'; known prefixes: " + knownPrefixList());
  if (name.empty())
    return Error(ErrorCode::InvalidInput, "model '" + model +
                                              "' names no model after '" +
                                              provider + "/'");
  return std::make_pair(provider, name);
}

ProviderConfig iterc::rt::providerConfigFromEnv(const std::string &provider) {
  ProviderConfig config;
  if (provider == "openai") {
    config.baseUrl = envOr("OPENAI_BASE_URL", "https://api.openai.com/v1");
    config.apiKey = envOr("OPENAI_API_KEY", "");
  } else if (provider == "anthropic") {
    config.baseUrl = envOr("ANTHROPIC_BASE_URL", "https://api.anthropic.com");
    config.apiKey = envOr("ANTHROPIC_API_KEY", "");
  } else if (provider == "ollama") {
    // Ollama's OpenAI-compatible API lives under /v1 of its base URL.
    std::string base = stripTrailingSlashes(
        envOr("OLLAMA_BASE_URL", "http://localhost:11434"));
    config.baseUrl = endsWith(base, "/v1") ? base : base + "/v1";
  } else if (provider == "openrouter") {
    config.baseUrl =
        envOr("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1");
    config.apiKey = envOr("OPENROUTER_API_KEY", "");
  }
  config.baseUrl = stripTrailingSlashes(config.baseUrl);
  return config;
}

Expected<std::unique_ptr<LlmProvider>>
iterc::rt::makeProvider(const std::string &provider, ProviderConfig config,
                        HttpTransport &transport, Clock &clock) {
  if (provider == "openai" || provider == "openrouter" || provider == "ollama")
    return makeOpenAiProvider(std::move(config), transport, clock);
  if (provider == "anthropic")
    return makeAnthropicProvider(std::move(config), transport, clock);
  if (provider == "replay")
    return Error(ErrorCode::InvalidInput,
                 "the replay provider needs a cassette (--cassette FILE)");
  return Error(ErrorCode::InvalidInput, "unknown provider '" + provider +
                                            "'; known: " + knownPrefixList());
}

//===----------------------------------------------------------------------===//
// Canonical requests and cassette responses
//===----------------------------------------------------------------------===//

const Json &LlmRequest::schema() const {
  static const Json none;
  return outputSchema ? *outputSchema : none;
}

Json LlmRequest::canonical() const {
  Json out = Json::object();
  out["provider"] = provider;
  out["model"] = model;
  Json msgs = Json::array();
  for (const LlmMessage &m : messages) {
    Json jm = Json::object();
    jm["role"] = m.role;
    jm["content"] = m.content;
    if (!m.toolCalls.is_null() && !m.toolCalls.empty())
      jm["tool_calls"] = m.toolCalls;
    if (!m.toolCallId.empty())
      jm["tool_call_id"] = m.toolCallId;
    msgs.push_back(std::move(jm));
  }
  out["messages"] = std::move(msgs);
  out["output_schema"] = schema();
  out["schema_name"] = schemaName;
  Json jtools = Json::array();
  for (const ToolSpec &t : tools) {
    Json jt = Json::object();
    jt["name"] = t.name;
    jt["description"] = t.description;
    jt["input_schema"] = t.inputSchema;
    jtools.push_back(std::move(jt));
  }
  out["tools"] = std::move(jtools);
  out["max_tokens"] = maxTokens ? Json(*maxTokens) : Json(nullptr);
  out["reasoning_effort"] = reasoningEffort;
  return out;
}

Json iterc::rt::llmResponseToJson(const LlmResponse &response) {
  Json out = Json::object();
  out["text"] = response.text;
  out["tool_calls"] =
      response.toolCalls.is_null() ? Json::array() : response.toolCalls;
  Json usage = Json::object();
  usage["input_tokens"] = response.usage.inputTokens;
  usage["output_tokens"] = response.usage.outputTokens;
  out["usage"] = std::move(usage);
  out["finish_reason"] = response.finishReason;
  return out;
}

Expected<LlmResponse> iterc::rt::llmResponseFromJson(const Json &json) {
  if (!json.is_object())
    return Error(ErrorCode::InvalidInput, "response is not a JSON object");
  LlmResponse r;
  if (json.contains("text")) {
    const Json &t = json["text"];
    if (t.is_string())
      r.text = t.get<std::string>();
    else if (!t.is_null())
      // A structured answer written as JSON rather than as a string.
      r.text = t.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (json.contains("tool_calls") && !json["tool_calls"].is_null()) {
    if (!json["tool_calls"].is_array())
      return Error(ErrorCode::InvalidInput, "\"tool_calls\" is not an array");
    r.toolCalls = json["tool_calls"];
  }
  if (json.contains("usage") && !json["usage"].is_null()) {
    const Json &u = json["usage"];
    if (!u.is_object())
      return Error(ErrorCode::InvalidInput, "\"usage\" is not an object");
    for (const char *key : {"input_tokens", "output_tokens"}) {
      if (u.contains(key) && !u[key].is_number_integer())
        return Error(ErrorCode::InvalidInput,
                     std::string("\"usage.") + key + "\" is not an integer");
    }
    r.usage.inputTokens = u.value("input_tokens", int64_t(0));
    r.usage.outputTokens = u.value("output_tokens", int64_t(0));
  }
  if (json.contains("finish_reason") && json["finish_reason"].is_string())
    r.finishReason = json["finish_reason"].get<std::string>();
  return r;
}

//===----------------------------------------------------------------------===//
// ProviderSet
//===----------------------------------------------------------------------===//

void ProviderSet::add(const std::string &prefix,
                      std::unique_ptr<LlmProvider> p) {
  providers[prefix] = std::move(p);
}

Expected<LlmProvider *> ProviderSet::forModel(const std::string &provider) {
  if (override_)
    return override_;
  auto it = providers.find(provider);
  if (it != providers.end() && it->second)
    return it->second.get();
  if (provider == "openai")
    return Error(ErrorCode::InvalidInput,
                 "no provider for 'openai': set OPENAI_API_KEY or use "
                 "--cassette");
  if (provider == "anthropic")
    return Error(ErrorCode::InvalidInput,
                 "no provider for 'anthropic': set ANTHROPIC_API_KEY or use "
                 "--cassette");
  if (provider == "openrouter")
    return Error(ErrorCode::InvalidInput,
                 "no provider for 'openrouter': set OPENROUTER_API_KEY or use "
                 "--cassette");
  if (provider == "ollama")
    return Error(ErrorCode::InvalidInput,
                 "no provider for 'ollama': set OLLAMA_BASE_URL or use "
                 "--cassette");
  if (provider == "replay")
    return Error(ErrorCode::InvalidInput,
                 "no provider for 'replay': use --cassette FILE");
  return Error(ErrorCode::InvalidInput,
               "no provider for '" + provider +
                   "' (known prefixes: " + knownPrefixList() + ")");
}
