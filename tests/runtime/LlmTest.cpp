//===- LlmTest.cpp - Tests of the language-model providers ----------------===//
//
// Runs the OpenAI-compatible and Anthropic providers against fake servers on
// loopback (request bodies, headers, structured output, tool calls, usage,
// errors and retries), the replay and recording providers, model strings
// and configuration from the environment.
//
//===----------------------------------------------------------------------===//
#include "FakeHttpServer.h"
#include "RuntimeTestUtil.h"

#include "iterc/rt/Llm.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::ScopedEnv;
using iterc::test::FakeHttpServer;
using iterc::test::FakeReply;
using iterc::test::FakeRequest;

namespace {

Json parse(const std::string &text) {
  auto j = parseJson(text);
  REQUIRE(j.has_value());
  return *j;
}

Json verdictSchema() {
  return parse(R"({"type":"object","properties":{"verdict":{"type":"string"},
                  "score":{"type":"integer"}},"required":["verdict"]})");
}

LlmRequest structuredRequest(const std::string &provider) {
  LlmRequest req;
  req.provider = provider;
  req.model = provider == "anthropic" ? "claude-test" : "gpt-test";
  req.messages.push_back({"system", "You judge code.", Json(), ""});
  req.messages.push_back({"user", "Is this code good?", Json(), ""});
  req.outputSchema = std::make_shared<const Json>(verdictSchema());
  req.schemaName = "verdict";
  return req;
}

ProviderConfig configFor(const FakeHttpServer &server, const std::string &key,
                         const std::string &path = "") {
  ProviderConfig config;
  config.baseUrl = server.baseUrl() + path;
  config.apiKey = key;
  config.timeouts.totalMs = 5000;
  return config;
}

std::string tempPath(const std::string &name) {
  return "/tmp/iterc-llm-test-" + std::to_string(::getpid()) + "-" + name;
}

std::string openAiReply(const std::string &content) {
  Json reply = Json::object();
  reply["id"] = "chatcmpl-1";
  Json message = Json::object();
  message["role"] = "assistant";
  message["content"] = content;
  Json choice = Json::object();
  choice["index"] = 0;
  choice["message"] = message;
  choice["finish_reason"] = "stop";
  reply["choices"] = Json::array({choice});
  reply["usage"] = parse(
      R"({"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49})");
  return reply.dump();
}

} // namespace

//===----------------------------------------------------------------------===//
// Model strings and configuration
//===----------------------------------------------------------------------===//

TEST_CASE("llm: splitModel", "[llm]") {
  auto a = splitModel("openai/gpt-4o-mini");
  REQUIRE(a.ok());
  CHECK(a->first == "openai");
  CHECK(a->second == "gpt-4o-mini");

  auto b = splitModel("openrouter/meta-llama/llama-3.1-8b-instruct");
  REQUIRE(b.ok());
  CHECK(b->first == "openrouter");
  CHECK(b->second == "meta-llama/llama-3.1-8b-instruct");

  for (const char *m :
       {"anthropic/claude-3-5-haiku", "ollama/llama3.2", "replay/anything"})
    CHECK(splitModel(m).ok());

  auto unknown = splitModel("mistral/large");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::InvalidInput);
  CHECK_THAT(unknown.error().message, Catch::Contains("mistral"));
  CHECK_THAT(unknown.error().message, Catch::Contains("openai/"));
  CHECK_THAT(unknown.error().message, Catch::Contains("anthropic/"));

  auto bare = splitModel("gpt-4o");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().code == ErrorCode::InvalidInput);
  CHECK_THAT(bare.error().message, Catch::Contains("ollama/"));

  CHECK_FALSE(splitModel("openai/").ok());
  // ${VAR} is the engine's business: the string is taken as it is.
  auto var = splitModel("${MODEL}");
  CHECK_FALSE(var.ok());
}

TEST_CASE("llm: providerConfigFromEnv", "[llm]") {
  SECTION("defaults") {
    ScopedEnv a("OPENAI_API_KEY", nullptr), b("OPENAI_BASE_URL", nullptr),
        c("ANTHROPIC_API_KEY", nullptr), d("ANTHROPIC_BASE_URL", nullptr),
        e("OLLAMA_BASE_URL", nullptr), f("OPENROUTER_API_KEY", nullptr),
        g("OPENROUTER_BASE_URL", nullptr);
    CHECK(providerConfigFromEnv("openai").baseUrl ==
          "https://api.openai.com/v1");
    CHECK(providerConfigFromEnv("openai").apiKey.empty());
    CHECK(providerConfigFromEnv("anthropic").baseUrl ==
          "https://api.anthropic.com");
    CHECK(providerConfigFromEnv("ollama").baseUrl ==
          "http://localhost:11434/v1");
    CHECK(providerConfigFromEnv("ollama").apiKey.empty());
    CHECK(providerConfigFromEnv("openrouter").baseUrl ==
          "https://openrouter.ai/api/v1");
  }
  SECTION("from the environment") {
    ScopedEnv a("OPENAI_API_KEY", "sk-openai"),
        b("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
        c("ANTHROPIC_API_KEY", "sk-ant"),
        d("ANTHROPIC_BASE_URL", "http://127.0.0.1:8"),
        e("OLLAMA_BASE_URL", "http://gpu-box:11434/"),
        f("OPENROUTER_API_KEY", "sk-or"),
        g("OPENROUTER_BASE_URL", "http://router/api/v1");
    auto openai = providerConfigFromEnv("openai");
    CHECK(openai.apiKey == "sk-openai");
    CHECK(openai.baseUrl == "http://127.0.0.1:9/v1");
    CHECK(providerConfigFromEnv("anthropic").apiKey == "sk-ant");
    CHECK(providerConfigFromEnv("anthropic").baseUrl == "http://127.0.0.1:8");
    CHECK(providerConfigFromEnv("ollama").baseUrl == "http://gpu-box:11434/v1");
    CHECK(providerConfigFromEnv("openrouter").apiKey == "sk-or");
    CHECK(providerConfigFromEnv("openrouter").baseUrl ==
          "http://router/api/v1");
  }
  SECTION("ollama base URL already ending in /v1") {
    ScopedEnv e("OLLAMA_BASE_URL", "http://box:11434/v1");
    CHECK(providerConfigFromEnv("ollama").baseUrl == "http://box:11434/v1");
  }
}

//===----------------------------------------------------------------------===//
// OpenAI-compatible provider
//===----------------------------------------------------------------------===//

TEST_CASE("llm: OpenAI structured output round trip", "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200,
                           openAiReply("{\"verdict\":\"good\",\"score\":9}"));
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, "sk-test-123", "/v1"),
                                     *transport, clock);
  LlmRequest req = structuredRequest("openai");
  req.maxTokens = 300;
  req.reasoningEffort = "low";
  auto r = provider->complete(req);
  REQUIRE(r.ok());
  CHECK(r->text == "{\"verdict\":\"good\",\"score\":9}");
  CHECK(r->usage.inputTokens == 42);
  CHECK(r->usage.outputTokens == 7);
  CHECK(r->finishReason == "stop");
  CHECK(r->toolCalls.empty());

  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/v1/chat/completions");
  CHECK(reqs[0].header("Authorization") == "Bearer sk-test-123");
  CHECK(reqs[0].header("Content-Type") == "application/json");
  Json body = parse(reqs[0].body);
  CHECK(body["model"] == "gpt-test");
  CHECK(body["max_tokens"] == 300);
  CHECK(body["reasoning_effort"] == "low");
  REQUIRE(body["messages"].size() == 2);
  CHECK(body["messages"][0]["role"] == "system");
  CHECK(body["messages"][1]["content"] == "Is this code good?");
  CHECK(body["response_format"]["type"] == "json_schema");
  CHECK(body["response_format"]["json_schema"]["name"] == "verdict");
  CHECK(body["response_format"]["json_schema"]["strict"] == false);
  CHECK(body["response_format"]["json_schema"]["schema"] == verdictSchema());
  CHECK_FALSE(body.contains("tools"));
}

TEST_CASE("llm: OpenAI malformed JSON reply is a Provider error", "[llm]") {
  FakeHttpServer server(
      [](const FakeRequest &) { return FakeReply::json(200, "{not json"); });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider =
      makeOpenAiProvider(configFor(server, "k-1234"), *transport, clock);
  auto r = provider->complete(structuredRequest("openai"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Provider);
  CHECK_THAT(r.error().message, Catch::Contains("malformed JSON"));
}

TEST_CASE("llm: OpenAI reply without choices is a Provider error", "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, "{\"choices\":[]}");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, ""), *transport, clock);
  auto r = provider->complete(structuredRequest("openai"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Provider);
  // No key, no Authorization header (Ollama).
  CHECK(server.requests()[0].header("Authorization").empty());
}

TEST_CASE("llm: OpenAI 500 is retried", "[llm]") {
  int calls = 0;
  FakeHttpServer server([&](const FakeRequest &) {
    if (calls++ == 0)
      return FakeReply::json(500, "{\"error\":{\"message\":\"boom\"}}");
    return FakeReply::json(200, openAiReply("{\"verdict\":\"ok\"}"));
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, "k"), *transport, clock);
  auto r = provider->complete(structuredRequest("openai"));
  REQUIRE(r.ok());
  CHECK(r->text == "{\"verdict\":\"ok\"}");
  CHECK(server.requestCount() == 2);
  CHECK(clock.totalSlept() > 0);
}

TEST_CASE("llm: OpenAI 401 is not retried and hides the key", "[llm]") {
  const std::string key = "sk-secret-key-0123456789";
  FakeHttpServer server([&](const FakeRequest &req) {
    // Like OpenAI, echo (part of) the key in the message.
    return FakeReply::json(
        401, "{\"error\":{\"message\":\"Incorrect API key provided: " + key +
                 "\",\"type\":\"invalid_request_error\"}}");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, key), *transport, clock);
  auto r = provider->complete(structuredRequest("openai"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::HttpStatus);
  CHECK_THAT(r.error().message, Catch::Contains("401"));
  CHECK_THAT(r.error().message, Catch::Contains("Incorrect API key provided"));
  CHECK(r.error().message.find(key) == std::string::npos);
  CHECK(server.requestCount() == 1);
  CHECK(clock.totalSlept() == 0);
}

TEST_CASE("llm: OpenAI tool calls, tool messages and tool specs", "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, R"({"choices":[{"message":{"role":"assistant",
      "content":null,"tool_calls":[{"id":"call_1","type":"function",
      "function":{"name":"read_file","arguments":"{\"path\":\"a.txt\"}"}},
      {"id":"call_2","type":"function","function":{"name":"list","arguments":""}}]},
      "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3}})");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, "k"), *transport, clock);
  LlmRequest req;
  req.provider = "openai";
  req.model = "gpt-test";
  req.messages.push_back({"user", "Read a.txt", Json(), ""});
  Json previous =
      parse(R"([{"id":"call_0","name":"list","arguments":{"dir":"."}}])");
  req.messages.push_back({"assistant", "", previous, ""});
  req.messages.push_back({"tool", "a.txt b.txt", Json(), "call_0"});
  req.tools.push_back(
      {"read_file", "Reads a file",
       parse(R"({"type":"object","properties":{"path":{"type":"string"}}})")});
  req.tools.push_back({"list", "", Json()});
  auto r = provider->complete(req);
  REQUIRE(r.ok());
  CHECK(r->text.empty());
  CHECK(r->finishReason == "tool_calls");
  REQUIRE(r->toolCalls.size() == 2);
  CHECK(r->toolCalls[0]["id"] == "call_1");
  CHECK(r->toolCalls[0]["name"] == "read_file");
  CHECK(r->toolCalls[0]["arguments"] == parse(R"({"path":"a.txt"})"));
  CHECK(r->toolCalls[1]["arguments"] == Json::object());

  Json body = parse(server.requests()[0].body);
  REQUIRE(body["tools"].size() == 2);
  CHECK(body["tools"][0]["type"] == "function");
  CHECK(body["tools"][0]["function"]["name"] == "read_file");
  CHECK(body["tools"][0]["function"]["parameters"]["properties"].contains(
      "path"));
  CHECK(body["tools"][1]["function"]["parameters"]["type"] == "object");
  const Json &assistant = body["messages"][1];
  CHECK(assistant["content"].is_null());
  CHECK(assistant["tool_calls"][0]["id"] == "call_0");
  CHECK(assistant["tool_calls"][0]["type"] == "function");
  CHECK(assistant["tool_calls"][0]["function"]["arguments"] ==
        "{\"dir\":\".\"}");
  CHECK(body["messages"][2]["role"] == "tool");
  CHECK(body["messages"][2]["tool_call_id"] == "call_0");
  CHECK_FALSE(body.contains("response_format"));
  CHECK_FALSE(body.contains("max_tokens"));
}

TEST_CASE("llm: OpenAI unparsable tool arguments are a Provider error",
          "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, R"({"choices":[{"message":{"role":"assistant",
      "tool_calls":[{"id":"c","type":"function","function":{"name":"f",
      "arguments":"{\"path\": "}}]},"finish_reason":"tool_calls"}]})");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider = makeOpenAiProvider(configFor(server, "k"), *transport, clock);
  LlmRequest req;
  req.provider = "openai";
  req.model = "m";
  req.messages.push_back({"user", "go", Json(), ""});
  auto r = provider->complete(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Provider);
  CHECK_THAT(r.error().message, Catch::Contains("'f'"));
}

TEST_CASE("llm: a timeout is reported as Timeout", "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    FakeReply r;
    r.mode = FakeReply::Mode::Hang;
    return r;
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  ProviderConfig config = configFor(server, "k");
  config.timeouts.totalMs = 100;
  config.retry.maxAttempts = 2;
  auto provider = makeOpenAiProvider(config, *transport, clock);
  auto r = provider->complete(structuredRequest("ollama"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::Timeout);
  CHECK_THAT(r.error().message, Catch::StartsWith("ollama: "));
  CHECK(server.requestCount() == 2);
}

//===----------------------------------------------------------------------===//
// Anthropic provider
//===----------------------------------------------------------------------===//

TEST_CASE("llm: Anthropic structured output through a forced tool", "[llm]") {
  FakeHttpServer server([](const FakeRequest &) {
    return FakeReply::json(200, R"({"id":"msg_1","type":"message",
      "role":"assistant","content":[{"type":"text","text":"Here it is."},
      {"type":"tool_use","id":"toolu_1","name":"verdict",
       "input":{"verdict":"good","score":8}}],
      "stop_reason":"tool_use",
      "usage":{"input_tokens":120,"output_tokens":30}})");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  auto provider =
      makeAnthropicProvider(configFor(server, "sk-ant-xyz"), *transport, clock);
  auto r = provider->complete(structuredRequest("anthropic"));
  REQUIRE(r.ok());
  CHECK(parse(r->text) == parse(R"({"verdict":"good","score":8})"));
  CHECK(r->toolCalls.empty());
  CHECK(r->usage.inputTokens == 120);
  CHECK(r->usage.outputTokens == 30);
  CHECK(r->finishReason == "stop");

  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].target == "/v1/messages");
  CHECK(reqs[0].header("x-api-key") == "sk-ant-xyz");
  CHECK(reqs[0].header("anthropic-version") == "2023-06-01");
  CHECK(reqs[0].header("Authorization").empty());
  Json body = parse(reqs[0].body);
  CHECK(body["model"] == "claude-test");
  CHECK(body["max_tokens"] == 4096);
  CHECK(body["system"] == "You judge code.");
  REQUIRE(body["messages"].size() == 1);
  CHECK(body["messages"][0]["role"] == "user");
  CHECK(body["messages"][0]["content"][0]["text"] == "Is this code good?");
  REQUIRE(body["tools"].size() == 1);
  CHECK(body["tools"][0]["name"] == "verdict");
  CHECK(body["tools"][0]["input_schema"] == verdictSchema());
  CHECK(body["tool_choice"]["type"] == "tool");
  CHECK(body["tool_choice"]["name"] == "verdict");
}

TEST_CASE("llm: Anthropic tools, tool results and errors", "[llm]") {
  SECTION("tool_use blocks become tool calls") {
    FakeHttpServer server([](const FakeRequest &) {
      return FakeReply::json(200, R"({"content":[
        {"type":"tool_use","id":"toolu_9","name":"grep","input":{"q":"TODO"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":2}})");
    });
    auto transport = makeHttpTransport();
    FakeClock clock;
    ProviderConfig config = configFor(server, "k", "/v1");
    config.retry.maxAttempts = 1;
    auto provider = makeAnthropicProvider(config, *transport, clock);
    LlmRequest req;
    req.provider = "anthropic";
    req.model = "claude-test";
    req.maxTokens = 100;
    req.messages.push_back({"user", "find todos", Json(), ""});
    req.messages.push_back(
        {"assistant", "Looking.",
         parse(R"([{"id":"toolu_1","name":"ls","arguments":{}}])"), ""});
    req.messages.push_back({"tool", "src/", Json(), "toolu_1"});
    req.tools.push_back({"grep", "Searches", Json()});
    auto r = provider->complete(req);
    REQUIRE(r.ok());
    CHECK(r->finishReason == "tool_calls");
    REQUIRE(r->toolCalls.size() == 1);
    CHECK(r->toolCalls[0]["id"] == "toolu_9");
    CHECK(r->toolCalls[0]["name"] == "grep");
    CHECK(r->toolCalls[0]["arguments"] == parse(R"({"q":"TODO"})"));

    auto reqs = server.requests();
    CHECK(reqs[0].target == "/v1/messages"); // base already ending in /v1
    Json body = parse(reqs[0].body);
    CHECK(body["max_tokens"] == 100);
    CHECK_FALSE(body.contains("system"));
    CHECK_FALSE(body.contains("tool_choice"));
    REQUIRE(body["messages"].size() == 3);
    CHECK(body["messages"][1]["role"] == "assistant");
    CHECK(body["messages"][1]["content"][0]["type"] == "text");
    CHECK(body["messages"][1]["content"][1]["type"] == "tool_use");
    CHECK(body["messages"][1]["content"][1]["id"] == "toolu_1");
    CHECK(body["messages"][2]["role"] == "user");
    CHECK(body["messages"][2]["content"][0]["type"] == "tool_result");
    CHECK(body["messages"][2]["content"][0]["tool_use_id"] == "toolu_1");
    CHECK(body["tools"][0]["input_schema"]["type"] == "object");
  }
  SECTION("error replies carry the provider's message") {
    FakeHttpServer server([](const FakeRequest &) {
      return FakeReply::json(400, R"({"type":"error","error":{
        "type":"invalid_request_error","message":"max_tokens: too large"}})");
    });
    auto transport = makeHttpTransport();
    FakeClock clock;
    auto provider =
        makeAnthropicProvider(configFor(server, "k-123456"), *transport, clock);
    auto r = provider->complete(structuredRequest("anthropic"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::HttpStatus);
    CHECK_THAT(r.error().message, Catch::Contains("max_tokens: too large"));
    CHECK(server.requestCount() == 1);
  }
}

//===----------------------------------------------------------------------===//
// Canonical requests, replay and recording
//===----------------------------------------------------------------------===//

TEST_CASE("llm: canonical requests are deterministic", "[llm]") {
  LlmRequest a = structuredRequest("openai");
  LlmRequest b = structuredRequest("openai");
  CHECK(a.canonical().dump() == b.canonical().dump());
  Json c = a.canonical();
  std::vector<std::string> keys;
  for (auto it = c.begin(); it != c.end(); ++it)
    keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{
                    "provider", "model", "messages", "output_schema",
                    "schema_name", "tools", "max_tokens", "reasoning_effort"});
  b.maxTokens = 10;
  CHECK(a.canonical().dump() != b.canonical().dump());
}

namespace {

/// A provider that answers "answer N" and counts calls.
class CountingProvider : public LlmProvider {
public:
  int calls = 0;
  Expected<LlmResponse> complete(const LlmRequest &request) override {
    ++calls;
    if (request.messages.back().content == "fail")
      return Error(ErrorCode::Provider, "scripted failure");
    LlmResponse r;
    r.text = "answer " + std::to_string(calls);
    r.usage.inputTokens = 10 * calls;
    r.usage.outputTokens = calls;
    r.finishReason = "stop";
    if (request.messages.back().content == "tool")
      r.toolCalls = parse(R"([{"id":"c1","name":"t","arguments":{"x":1}}])");
    return r;
  }
};

LlmRequest ask(const std::string &text) {
  LlmRequest r;
  r.provider = "openai";
  r.model = "gpt-test";
  r.messages.push_back({"user", text, Json(), ""});
  return r;
}

} // namespace

TEST_CASE("llm: replay hit, repeated entries and miss", "[llm]") {
  Json cassette = Json::object();
  cassette["version"] = 1;
  Json entries = Json::array();
  for (const char *text : {"first", "second"}) {
    Json e = Json::object();
    e["request"] = ask("hello").canonical();
    LlmResponse resp;
    resp.text = text;
    resp.usage.inputTokens = 3;
    resp.usage.outputTokens = 1;
    e["response"] = llmResponseToJson(resp);
    entries.push_back(e);
  }
  cassette["entries"] = entries;
  auto replay = ReplayProvider::fromJson(cassette);

  auto r1 = replay->complete(ask("hello"));
  auto r2 = replay->complete(ask("hello"));
  auto r3 = replay->complete(ask("hello"));
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  REQUIRE(r3.ok());
  CHECK(r1->text == "first");
  CHECK(r2->text == "second");
  CHECK(r3->text == "second");
  CHECK(r1->usage.inputTokens == 3);

  auto miss = replay->complete(ask("something else entirely"));
  REQUIRE_FALSE(miss.ok());
  CHECK(miss.error().code == ErrorCode::ReplayMiss);
  CHECK_THAT(miss.error().message, Catch::Contains("openai/gpt-test"));
  CHECK_THAT(miss.error().message, Catch::Contains("something else entirely"));
  CHECK_THAT(miss.error().message, Catch::Contains("cassette"));
}

TEST_CASE("llm: replay matches regardless of key order in the cassette",
          "[llm]") {
  std::string text = R"({"entries":[{"response":{"text":"hi"},"request":{
    "reasoning_effort":"","max_tokens":null,"tools":[],"schema_name":"",
    "output_schema":null,"messages":[{"content":"hello","role":"user"}],
    "model":"gpt-test","provider":"openai"}}],"version":1})";
  std::string path = tempPath("keyorder.json");
  {
    std::ofstream out(path);
    out << text;
  }
  auto replay = ReplayProvider::load(path);
  REQUIRE(replay.ok());
  auto r = (*replay)->complete(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r->text == "hi");
  auto miss = (*replay)->complete(ask("bye"));
  REQUIRE_FALSE(miss.ok());
  CHECK_THAT(miss.error().message, Catch::Contains(path));
  std::remove(path.c_str());
}

TEST_CASE("llm: replay load errors", "[llm]") {
  auto missing = ReplayProvider::load("/nonexistent/cassette.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::InvalidInput);
  CHECK_THAT(missing.error().message,
             Catch::Contains("/nonexistent/cassette.json"));

  std::string path = tempPath("bad.json");
  for (const char *content :
       {"{not json", "[]", "{\"version\":2,\"entries\":[]}", "{\"version\":1}",
        "{\"version\":1,\"entries\":[{\"request\":{}}]}",
        "{\"version\":1,\"entries\":[{\"request\":{},\"response\":"
        "{\"usage\":{\"input_tokens\":\"x\"}}}]}"}) {
    {
      std::ofstream out(path);
      out << content;
    }
    auto r = ReplayProvider::load(path);
    INFO(content);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::InvalidInput);
    CHECK_THAT(r.error().message, Catch::Contains(path));
  }
  std::remove(path.c_str());
}

TEST_CASE("llm: recording then replaying gives identical responses", "[llm]") {
  std::string path = tempPath("recorded.json");
  CountingProvider real;
  std::vector<LlmResponse> live;
  {
    RecordingProvider recorder(real, path);
    for (const char *q : {"one", "two", "one", "tool"}) {
      auto r = recorder.complete(ask(q));
      REQUIRE(r.ok());
      live.push_back(*r);
    }
    CHECK_FALSE(recorder.complete(ask("fail")).ok());
    REQUIRE(recorder.flush().ok());
  }
  // Written atomically: no temporary file left behind.
  CHECK(::access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK) !=
        0);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Json cassette = parse(text.str());
  CHECK(cassette["version"] == 1);
  REQUIRE(cassette["entries"].size() == 4); // the failure is not recorded
  CHECK(cassette["entries"][1]["request"]["messages"][0]["content"] == "two");

  auto replay = ReplayProvider::load(path);
  REQUIRE(replay.ok());
  std::vector<LlmResponse> replayed;
  for (const char *q : {"one", "two", "one", "tool"}) {
    auto r = (*replay)->complete(ask(q));
    REQUIRE(r.ok());
    replayed.push_back(*r);
  }
  REQUIRE(replayed.size() == live.size());
  for (size_t i = 0; i < live.size(); ++i) {
    INFO(i);
    CHECK(llmResponseToJson(replayed[i]).dump() ==
          llmResponseToJson(live[i]).dump());
  }
  CHECK(replayed[3].toolCalls[0]["arguments"]["x"] == 1);
  CHECK(real.calls == 5);
  std::remove(path.c_str());
}

TEST_CASE("llm: ProviderSet selection", "[llm]") {
  ProviderSet set;
  auto none = set.forModel("anthropic");
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message,
             Catch::Contains("no provider for 'anthropic'"));
  CHECK_THAT(none.error().message, Catch::Contains("ANTHROPIC_API_KEY"));
  CHECK_THAT(none.error().message, Catch::Contains("--cassette"));

  auto counting = std::make_unique<CountingProvider>();
  LlmProvider *raw = counting.get();
  set.add("openai", std::move(counting));
  auto found = set.forModel("openai");
  REQUIRE(found.ok());
  CHECK(*found == raw);

  CountingProvider all;
  set.setOverride(&all);
  CHECK(*set.forModel("openai") == &all);
  CHECK(*set.forModel("anthropic") == &all);
}

TEST_CASE("llm: makeProvider dispatches by prefix", "[llm]") {
  auto transport = makeHttpTransport();
  FakeClock clock;
  for (const char *p : {"openai", "openrouter", "ollama", "anthropic"})
    CHECK(makeProvider(p, ProviderConfig(), *transport, clock).ok());
  CHECK_FALSE(makeProvider("replay", ProviderConfig(), *transport, clock).ok());
  CHECK_FALSE(makeProvider("nope", ProviderConfig(), *transport, clock).ok());
}

TEST_CASE("llm: odd replies and invalid UTF-8 never throw", "[llm]") {
  FakeHttpServer server([](const FakeRequest &req) {
    if (req.target == "/v1/messages")
      return FakeReply::json(200, R"({"content":[7,{"type":null},
        {"type":"text","text":"plain"}],"stop_reason":null,"usage":null})");
    return FakeReply::json(200, R"({"choices":[{"message":{"content":"x",
      "tool_calls":null},"finish_reason":null}],"usage":{"prompt_tokens":"1"}})");
  });
  auto transport = makeHttpTransport();
  FakeClock clock;
  LlmRequest req = ask("bad \xff\xfe bytes");
  req.messages.push_back({"assistant", "", Json::array({42}), ""});

  auto openai = makeOpenAiProvider(configFor(server, "k"), *transport, clock);
  auto r1 = openai->complete(req);
  REQUIRE(r1.ok());
  CHECK(r1->text == "x");
  CHECK(r1->usage.inputTokens == 0);

  auto anthropic =
      makeAnthropicProvider(configFor(server, "k"), *transport, clock);
  auto r2 = anthropic->complete(req);
  REQUIRE(r2.ok());
  CHECK(r2->text == "plain");
  CHECK(r2->finishReason.empty());

  auto replay = ReplayProvider::fromJson(Json::object());
  auto miss = replay->complete(req);
  REQUIRE_FALSE(miss.ok());
  CHECK(miss.error().code == ErrorCode::ReplayMiss);
}

TEST_CASE("the request match key is the sorted canonical form", "[llm]") {
  LlmRequest r;
  r.provider = "openai";
  r.model = "gpt-4o-mini";
  r.messages = {{"system", "sys \"quoted\" \n line", Json(), ""},
                {"user", "héllo \u0001 ✓", Json(), ""},
                {"assistant", "",
                 Json::array({{{"id", "c1"},
                               {"name", "lookup"},
                               {"arguments", {{"z", 1}, {"a", 2}}}}}),
                 ""},
                {"tool", "result", Json(), "c1"}};
  r.outputSchema = std::make_shared<const Json>(Json{
      {"type", "object"},
      {"properties",
       {{"b", {{"type", "string"}}}, {"a", {{"type", "integer"}}}}}});
  r.schemaName = "out";
  r.tools.push_back({"lookup", "finds", Json{{"type", "object"}}});
  auto reference = [](const LlmRequest &req) {
    nlohmann::json sorted(req.canonical());
    return sorted.dump(-1, ' ', false,
                       nlohmann::json::error_handler_t::replace);
  };
  CHECK(r.computeMatchKey() == reference(r));
  r.maxTokens = 512;
  r.reasoningEffort = "high";
  CHECK(r.computeMatchKey() == reference(r));
  LlmRequest empty;
  CHECK(empty.computeMatchKey() == reference(empty));

  // Whatever the strings and numbers hold: escapes, UTF-8, invalid bytes,
  // floats, big and negative integers, booleans, nested arrays.
  LlmRequest odd;
  odd.provider = "anthropic";
  odd.model = "claude\\x";
  odd.messages = {
      {"system", std::string("nul \0 byte, tab\t, bell \a, del \x7f", 30),
       Json(), ""},
      {"user", "bad utf-8: \xff\xfe, cut: \xe2\x9c, ok: \xe2\x9c\x93", Json(),
       ""},
      {"assistant", "/slash/ and \"quotes\"",
       Json::array(
           {{{"id", "\u00e9"},
             {"arguments",
              {{"f", 0.1},
               {"g", -2.5e-7},
               {"big", 9007199254740993LL},
               {"neg", -42},
               {"u", 18446744073709551615ULL},
               {"t", true},
               {"n", nullptr},
               {"nested", Json::array({Json::array({1, 2}), Json::object()})}}},
             {"name", "x"}}}),
       ""}};
  odd.outputSchema =
      std::make_shared<const Json>(Json{{"enum", Json::array({"b", "a", "\u2028"})},
                                        {"minimum", 1.5},
                                        {"B", 1},
                                        {"a", 2}});
  odd.reasoningEffort = "l\u00f6w";
  odd.tools.push_back({"t\"1", "d\n", Json{{"z", {{"y", {{"x", 1}}}}}}});
  odd.tools.push_back({"t2", "", Json()});
  CHECK(odd.computeMatchKey() == reference(odd));
}
