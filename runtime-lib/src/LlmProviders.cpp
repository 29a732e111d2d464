//===- LlmProviders.cpp - OpenAI-compatible and Anthropic providers -------===//
//
// This file implements the two wire protocols the runtime speaks:
// OpenAI-style chat completions (OpenAI, OpenRouter, Ollama's /v1, vLLM,
// llama.cpp server) and Anthropic messages. Each turns an LlmRequest into a
// JSON body, sends it with the retry policy, and turns the reply into an
// LlmResponse. Structured output uses `response_format: json_schema` on the
// former and a forced tool call on the latter. Failures are errors with the
// provider's own message; the API key never appears in one.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Budget.h"
#include "iterc/rt/Llm.h"

#include <cctype>
#include <exception>

using namespace iterc::rt;

namespace {

std::string joinUrl(const std::string &base, const std::string &path) {
  std::string b = base;
  while (!b.empty() && b.back() == '/')
    b.pop_back();
  return b + path;
}

/// Replaces every occurrence of the key in `text`.
std::string redact(std::string text, const std::string &secret) {
  if (secret.size() < 4)
    return text;
  size_t pos = 0;
  while ((pos = text.find(secret, pos)) != std::string::npos) {
    text.replace(pos, secret.size(), "***");
    pos += 3;
  }
  return text;
}

std::string clip(const std::string &text, size_t max = 300) {
  if (text.size() <= max)
    return text;
  return text.substr(0, max) + "...";
}

/// The provider's explanation of an error reply: error.message, a string
/// error, a top-level message, or the start of the body.
std::string errorDetail(const std::string &body) {
  if (auto json = parseJson(body)) {
    if (json->is_object()) {
      if (json->contains("error")) {
        const Json &e = (*json)["error"];
        if (e.is_object() && e.contains("message") && e["message"].is_string())
          return e["message"].get<std::string>();
        if (e.is_string())
          return e.get<std::string>();
      }
      if (json->contains("message") && (*json)["message"].is_string())
        return (*json)["message"].get<std::string>();
    }
  }
  std::string trimmed;
  for (char c : body)
    trimmed += (c == '\n' || c == '\r') ? ' ' : c;
  return trimmed.empty() ? "(empty body)" : clip(trimmed);
}

/// OpenAI requires ^[a-zA-Z0-9_-]{1,64}$ for schema and function names.
std::string sanitizeName(const std::string &name, const std::string &fallback) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')
      out += c;
    else
      out += '_';
    if (out.size() == 64)
      break;
  }
  return out.empty() ? fallback : out;
}

Json objectSchemaOrEmpty(const Json &schema) {
  if (schema.is_object())
    return schema;
  Json out = Json::object();
  out["type"] = "object";
  out["properties"] = Json::object();
  return out;
}

/// Tool-call arguments as a JSON value: an object is kept, a string is
/// parsed (empty means no arguments).
std::optional<Json> parseArguments(const Json &raw) {
  if (raw.is_null())
    return Json::object();
  if (raw.is_object())
    return raw;
  if (!raw.is_string())
    return std::nullopt;
  const std::string &text = raw.get_ref<const std::string &>();
  bool blank = true;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c)))
      blank = false;
  if (blank)
    return Json::object();
  auto parsed = parseJson(text);
  if (!parsed || !parsed->is_object())
    return std::nullopt;
  return parsed;
}

/// A string member, or "" when absent or of another type (Json::value
/// would throw on a null or mistyped member).
std::string stringField(const Json &obj, const char *key) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_string())
    return obj[key].get<std::string>();
  return "";
}

/// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dumpSafe(const Json &json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

int64_t intField(const Json &obj, const char *key) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_number_integer())
    return obj[key].get<int64_t>();
  return 0;
}

/// Shared by both providers: sends the body and maps failures.
class HttpProviderBase : public LlmProvider {
public:
  Expected<LlmResponse> complete(const LlmRequest &request) final {
    // Every JSON access below is checked; this is the last line of defence
    // so that no exception leaves a provider.
    try {
      return completeImpl(request);
    } catch (const std::exception &e) {
      return Error(ErrorCode::Provider,
                   redact(labelFor(request) + ": " + e.what(), config.apiKey));
    }
  }

protected:
  virtual Expected<LlmResponse> completeImpl(const LlmRequest &request) = 0;

  HttpProviderBase(std::string protocol, ProviderConfig config,
                   HttpTransport &transport, Clock &clock)
      : protocol(std::move(protocol)), config(std::move(config)),
        transport(transport), clock(clock) {}

  /// POSTs `body` and returns the parsed JSON of a 2xx reply.
  /// The call's own deadlines (its node's `request_timeout`) win over the
  /// provider's; it may be abandoned while in flight.
  Expected<Json> post(const LlmRequest &call, const std::string &name,
                      const std::string &path, const Json &body,
                      Headers headers) {
    HttpRequest req;
    req.method = "POST";
    req.url = joinUrl(config.baseUrl, path);
    headers.emplace_back("Content-Type", "application/json");
    headers.emplace_back("Accept", "application/json");
    req.headers = std::move(headers);
    req.body = dumpSafe(body);
    auto pick = [](int64_t own, int64_t fallback) {
      return own > 0 ? own : fallback;
    };
    req.connectTimeoutMs =
        pick(call.timeouts.connectMs, config.timeouts.connectMs);
    req.firstByteTimeoutMs =
        pick(call.timeouts.firstByteMs, config.timeouts.firstByteMs);
    req.timeoutMs = pick(call.timeouts.totalMs, config.timeouts.totalMs);
    req.abandon = call.abandon;
    auto result = sendWithRetry(transport, req, config.retry, clock);
    if (!result)
      return Error(result.error().code,
                   redact(name + ": " + result.error().message, config.apiKey));
    const HttpResponse &resp = *result;
    if (resp.status < 200 || resp.status > 299)
      return Error(ErrorCode::HttpStatus,
                   redact(name + ": HTTP " + std::to_string(resp.status) +
                              ": " + errorDetail(resp.body),
                          config.apiKey));
    auto json = parseJson(resp.body);
    if (!json || !json->is_object())
      return Error(ErrorCode::Provider,
                   redact(name + ": malformed JSON reply (HTTP " +
                              std::to_string(resp.status) + ", " +
                              std::to_string(resp.body.size()) +
                              " bytes): " + clip(resp.body, 200),
                          config.apiKey));
    return *json;
  }

  /// The name errors start with: the request's provider prefix (openrouter,
  /// ollama...) or the protocol's name.
  std::string labelFor(const LlmRequest &request) const {
    return request.provider.empty() ? protocol : request.provider;
  }

  Error providerError(const std::string &name,
                      const std::string &message) const {
    return Error(ErrorCode::Provider,
                 redact(name + ": " + message, config.apiKey));
  }

  std::string protocol;
  ProviderConfig config;
  HttpTransport &transport;
  Clock &clock;
};

//===----------------------------------------------------------------------===//
// OpenAI-compatible chat completions
//===----------------------------------------------------------------------===//

class OpenAiProvider : public HttpProviderBase {
public:
  OpenAiProvider(ProviderConfig config, HttpTransport &transport, Clock &clock)
      : HttpProviderBase("openai", std::move(config), transport, clock) {}

  Expected<LlmResponse> completeImpl(const LlmRequest &request) override {
    std::string name = labelFor(request);
    Json body = buildBody(request);
    Headers headers;
    if (!config.apiKey.empty())
      headers.emplace_back("Authorization", "Bearer " + config.apiKey);
    auto reply =
        post(request, name, "/chat/completions", body, std::move(headers));
    if (!reply)
      return reply.error();
    return parseReply(name, *reply);
  }

private:
  static Json buildBody(const LlmRequest &request) {
    Json body = Json::object();
    body["model"] = request.model;
    Json messages = Json::array();
    for (const LlmMessage &m : request.messages) {
      Json jm = Json::object();
      jm["role"] = m.role;
      bool hasCalls = m.toolCalls.is_array() && !m.toolCalls.empty();
      if (m.role == "assistant" && hasCalls && m.content.empty())
        jm["content"] = nullptr;
      else
        jm["content"] = m.content;
      if (hasCalls) {
        Json calls = Json::array();
        for (const Json &call : m.toolCalls) {
          Json fn = Json::object();
          fn["name"] = stringField(call, "name");
          const Json args = call.is_object() && call.contains("arguments")
                                ? call["arguments"]
                                : Json::object();
          fn["arguments"] =
              args.is_string() ? args.get<std::string>() : dumpSafe(args);
          Json jc = Json::object();
          jc["id"] = stringField(call, "id");
          jc["type"] = "function";
          jc["function"] = std::move(fn);
          calls.push_back(std::move(jc));
        }
        jm["tool_calls"] = std::move(calls);
      }
      if (m.role == "tool")
        jm["tool_call_id"] = m.toolCallId;
      messages.push_back(std::move(jm));
    }
    body["messages"] = std::move(messages);
    if (request.maxTokens)
      body["max_tokens"] = *request.maxTokens;
    else if (request.replyCap)
      body["max_tokens"] = *request.replyCap; // What the budget reserved.
    if (!request.reasoningEffort.empty())
      body["reasoning_effort"] = request.reasoningEffort;
    if (request.hasOutputSchema()) {
      Json schema = Json::object();
      schema["name"] = sanitizeName(request.schemaName, "output");
      schema["schema"] = request.schema();
      schema["strict"] = false;
      Json format = Json::object();
      format["type"] = "json_schema";
      format["json_schema"] = std::move(schema);
      body["response_format"] = std::move(format);
    }
    if (!request.tools.empty()) {
      Json tools = Json::array();
      for (const ToolSpec &t : request.tools) {
        Json fn = Json::object();
        fn["name"] = t.name;
        if (!t.description.empty())
          fn["description"] = t.description;
        fn["parameters"] = objectSchemaOrEmpty(t.inputSchema);
        Json jt = Json::object();
        jt["type"] = "function";
        jt["function"] = std::move(fn);
        tools.push_back(std::move(jt));
      }
      body["tools"] = std::move(tools);
    }
    return body;
  }

  Expected<LlmResponse> parseReply(const std::string &name, const Json &reply) {
    if (!reply.contains("choices") || !reply["choices"].is_array() ||
        reply["choices"].empty() || !reply["choices"][0].is_object())
      return providerError(name, "reply has no choices");
    const Json &choice = reply["choices"][0];
    if (!choice.contains("message") || !choice["message"].is_object())
      return providerError(name, "reply's first choice has no message");
    const Json &message = choice["message"];
    LlmResponse out;
    if (message.contains("content")) {
      const Json &content = message["content"];
      if (content.is_string()) {
        out.text = content.get<std::string>();
      } else if (content.is_array()) {
        for (const Json &part : content)
          if (part.is_object() && part.contains("text") &&
              part["text"].is_string())
            out.text += part["text"].get<std::string>();
      } else if (!content.is_null()) {
        return providerError(name, "message content is neither text nor parts");
      }
    }
    if (message.contains("tool_calls") && !message["tool_calls"].is_null()) {
      if (!message["tool_calls"].is_array())
        return providerError(name, "message tool_calls is not an array");
      for (const Json &call : message["tool_calls"]) {
        if (!call.is_object() || !call.contains("function") ||
            !call["function"].is_object())
          return providerError(name, "tool call without a function");
        const Json &fn = call["function"];
        std::string fnName = stringField(fn, "name");
        if (fnName.empty())
          return providerError(name, "tool call without a function name");
        auto args =
            parseArguments(fn.contains("arguments") ? fn["arguments"] : Json());
        if (!args)
          return providerError(
              name,
              "tool call '" + fnName +
                  "' has arguments that are not a JSON object: " +
                  clip(fn.contains("arguments") ? dumpSafe(fn["arguments"])
                                                : std::string(),
                       200));
        Json jc = Json::object();
        jc["id"] = stringField(call, "id");
        jc["name"] = fnName;
        jc["arguments"] = std::move(*args);
        out.toolCalls.push_back(std::move(jc));
      }
    }
    if (out.text.empty() && out.toolCalls.empty() &&
        message.contains("refusal") && message["refusal"].is_string())
      return providerError(name,
                           "the model refused: " +
                               clip(message["refusal"].get<std::string>()));
    if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
      out.finishReason = choice["finish_reason"].get<std::string>();
    if (reply.contains("usage") && reply["usage"].is_object()) {
      out.usage.inputTokens = intField(reply["usage"], "prompt_tokens");
      out.usage.outputTokens = intField(reply["usage"], "completion_tokens");
    }
    return out;
  }
};

//===----------------------------------------------------------------------===//
// Anthropic messages
//===----------------------------------------------------------------------===//

class AnthropicProvider : public HttpProviderBase {
public:
  AnthropicProvider(ProviderConfig config, HttpTransport &transport,
                    Clock &clock)
      : HttpProviderBase("anthropic", std::move(config), transport, clock) {}

  Expected<LlmResponse> completeImpl(const LlmRequest &request) override {
    std::string name = labelFor(request);
    std::string structuredTool;
    Json body = buildBody(request, structuredTool);
    Headers headers;
    if (!config.apiKey.empty())
      headers.emplace_back("x-api-key", config.apiKey);
    headers.emplace_back("anthropic-version", "2023-06-01");
    // The base URL is the host (https://api.anthropic.com); tolerate one
    // that already ends in /v1.
    std::string base = config.baseUrl;
    while (!base.empty() && base.back() == '/')
      base.pop_back();
    bool hasV1 =
        base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0;
    auto reply = post(request, name, hasV1 ? "/messages" : "/v1/messages", body,
                      std::move(headers));
    if (!reply)
      return reply.error();
    return parseReply(name, *reply, structuredTool);
  }

private:
  /// Appends one content block to the conversation, merging consecutive
  /// blocks of the same role into one message as the API requires.
  static void appendBlock(Json &messages, const std::string &role, Json block) {
    if (!messages.empty() && messages.back()["role"] == role) {
      messages.back()["content"].push_back(std::move(block));
      return;
    }
    Json jm = Json::object();
    jm["role"] = role;
    jm["content"] = Json::array();
    jm["content"].push_back(std::move(block));
    messages.push_back(std::move(jm));
  }

  static Json textBlock(const std::string &text) {
    Json b = Json::object();
    b["type"] = "text";
    b["text"] = text;
    return b;
  }

  static Json buildBody(const LlmRequest &request,
                        std::string &structuredTool) {
    Json body = Json::object();
    body["model"] = request.model;
    body["max_tokens"] =
        request.maxTokens ? *request.maxTokens : kDefaultReplyTokens;
    std::string system;
    Json messages = Json::array();
    for (const LlmMessage &m : request.messages) {
      if (m.role == "system") {
        if (!system.empty())
          system += "\n\n";
        system += m.content;
      } else if (m.role == "tool") {
        Json b = Json::object();
        b["type"] = "tool_result";
        b["tool_use_id"] = m.toolCallId;
        b["content"] = m.content;
        appendBlock(messages, "user", std::move(b));
      } else if (m.role == "assistant") {
        if (!m.content.empty())
          appendBlock(messages, "assistant", textBlock(m.content));
        if (m.toolCalls.is_array())
          for (const Json &call : m.toolCalls) {
            Json b = Json::object();
            b["type"] = "tool_use";
            b["id"] = stringField(call, "id");
            b["name"] = stringField(call, "name");
            Json args = call.is_object() && call.contains("arguments")
                            ? call["arguments"]
                            : Json::object();
            if (args.is_string())
              args = parseArguments(args).value_or(Json::object());
            b["input"] = std::move(args);
            appendBlock(messages, "assistant", std::move(b));
          }
      } else {
        appendBlock(messages, "user", textBlock(m.content));
      }
    }
    if (!system.empty())
      body["system"] = system;
    body["messages"] = std::move(messages);

    Json tools = Json::array();
    for (const ToolSpec &t : request.tools) {
      Json jt = Json::object();
      jt["name"] = t.name;
      if (!t.description.empty())
        jt["description"] = t.description;
      jt["input_schema"] = objectSchemaOrEmpty(t.inputSchema);
      tools.push_back(std::move(jt));
    }
    if (request.hasOutputSchema()) {
      structuredTool = sanitizeName(request.schemaName, "respond");
      Json jt = Json::object();
      jt["name"] = structuredTool;
      jt["description"] =
          "Give the final answer by calling this tool with it as the input.";
      jt["input_schema"] = objectSchemaOrEmpty(request.schema());
      tools.push_back(std::move(jt));
      Json choice = Json::object();
      if (request.tools.empty()) {
        choice["type"] = "tool";
        choice["name"] = structuredTool;
      } else {
        // With other tools the model may call them first; it must still
        // answer through a tool, and the answer is the structured one.
        choice["type"] = "any";
      }
      body["tool_choice"] = std::move(choice);
    }
    if (!tools.empty())
      body["tools"] = std::move(tools);
    return body;
  }

  Expected<LlmResponse> parseReply(const std::string &name, const Json &reply,
                                   const std::string &structuredTool) {
    if (!reply.contains("content") || !reply["content"].is_array())
      return providerError(name, "reply has no content array");
    LlmResponse out;
    bool structured = false;
    for (const Json &block : reply["content"]) {
      if (!block.is_object())
        continue;
      std::string type = stringField(block, "type");
      if (type == "text" && block.contains("text") &&
          block["text"].is_string()) {
        if (!structured)
          out.text += block["text"].get<std::string>();
      } else if (type == "tool_use") {
        std::string toolName = stringField(block, "name");
        Json input = block.contains("input") ? block["input"] : Json::object();
        if (!input.is_object())
          return providerError(name, "tool_use '" + toolName +
                                         "' input is not a JSON object");
        if (!structuredTool.empty() && toolName == structuredTool) {
          out.text = dumpSafe(input);
          structured = true;
        } else {
          Json jc = Json::object();
          jc["id"] = stringField(block, "id");
          jc["name"] = toolName;
          jc["arguments"] = std::move(input);
          out.toolCalls.push_back(std::move(jc));
        }
      }
    }
    std::string stop = stringField(reply, "stop_reason");
    // Finish reasons in the OpenAI vocabulary, so callers see one set.
    if (stop == "end_turn" || stop == "stop_sequence")
      out.finishReason = "stop";
    else if (stop == "max_tokens")
      out.finishReason = "length";
    else if (stop == "tool_use")
      out.finishReason = out.toolCalls.empty() ? "stop" : "tool_calls";
    else
      out.finishReason = stop;
    if (reply.contains("usage") && reply["usage"].is_object()) {
      const Json &u = reply["usage"];
      out.usage.inputTokens = intField(u, "input_tokens") +
                              intField(u, "cache_creation_input_tokens") +
                              intField(u, "cache_read_input_tokens");
      out.usage.outputTokens = intField(u, "output_tokens");
    }
    return out;
  }
};

} // namespace

std::unique_ptr<LlmProvider>
iterc::rt::makeOpenAiProvider(ProviderConfig config, HttpTransport &transport,
                              Clock &clock) {
  return std::make_unique<OpenAiProvider>(std::move(config), transport, clock);
}

std::unique_ptr<LlmProvider>
iterc::rt::makeAnthropicProvider(ProviderConfig config,
                                 HttpTransport &transport, Clock &clock) {
  return std::make_unique<AnthropicProvider>(std::move(config), transport,
                                             clock);
}
