//===- InvalidReplyTest.cpp - Huge invalid replies stay out of the log ----===//
//
// A model that answers 50 MB that do not match the schema, on every
// attempt, must not grow the event log by 50 MB per attempt: the log keeps
// a 16 KiB excerpt (cut on a UTF-8 boundary) with the size and SHA-256 of
// the whole. The re-ask carries the same excerpt, so a resumed run replays
// the recorded attempt and makes only the calls that were not made.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/Engine.h"

#include <catch2/catch.hpp>

#include <deque>
#include <mutex>
#include <sys/stat.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::schema;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;

namespace {

/// Valid JSON, but `text` is a number where the schema wants a string,
/// padded with two-byte characters to about `bytes`; the prefix has an odd
/// length, so that a cut at 16 KiB falls inside a character.
std::string hugeInvalidReply(size_t bytes) {
  std::string reply = "{\"text\": 5, \"pad\":\"";
  REQUIRE(reply.size() % 2 == 1);
  std::string pad;
  pad.reserve(bytes);
  while (pad.size() + reply.size() + 2 < bytes)
    pad += "\xc3\xa9"; // U+00E9
  return reply + pad + "\"}";
}

/// Answers each call with the next scripted reply ("" fails the call).
class ScriptProvider : public LlmProvider {
public:
  std::deque<std::string> replies;
  std::vector<LlmRequest> calls;
  Expected<LlmResponse> complete(const LlmRequest &request) override {
    calls.push_back(request);
    if (replies.empty())
      return Error(ErrorCode::Provider, "no reply scripted");
    std::string next = std::move(replies.front());
    replies.pop_front();
    if (next.empty())
      return Error(ErrorCode::HttpStatus, "HTTP 503 from the provider");
    LlmResponse r;
    r.text = std::move(next);
    r.usage.inputTokens = 1;
    r.usage.outputTokens = 1;
    return r;
  }
};

WorkflowDesc writerWf() {
  WorkflowDesc wf;
  wf.name = "huge";
  wf.sourceSha256 = "huge-1";
  wf.schemas.push_back(schema("out", {{"text", FieldType::String}}));
  NodeDesc writer;
  writer.kind = NodeKind::Agent;
  writer.name = "writer";
  writer.model = "replay/m";
  writer.output = 0;
  writer.system = text("node:writer");
  wf.nodes.push_back(writer);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  return wf;
}

RunResult runWith(RunStore &store, LlmProvider &provider, bool resume) {
  WorkflowDesc wf = writerWf();
  ProviderSet providers;
  providers.setOverride(&provider);
  EngineDeps deps;
  deps.store = &store;
  deps.providers = &providers;
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "r";
  return resume ? engine.resume("r", Json(), options) : engine.run(options);
}

off_t fileSize(const std::string &path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_size;
}

} // namespace

TEST_CASE("invalid replies: 50 MB invalid on every attempt keeps the log "
          "small, with size and sha256 of each reply",
          "[engine][llm][durable]") {
  TempDir tmp;
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  const std::string huge = hugeInvalidReply(50u << 20);
  ScriptProvider provider;
  provider.replies = {huge, huge, huge};
  RunResult r = runWith(*store, provider, false);
  REQUIRE(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(r.error->code == ErrorCode::SchemaInvalid);
  CHECK(provider.calls.size() == 3);

  // (The hash the log uses, against a known answer.)
  REQUIRE(sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
                              "b410ff61f20015ad");
  off_t logSize = fileSize(tmp / "runs/r/events.jsonl");
  INFO("events.jsonl: " << logSize << " bytes");
  CHECK(logSize < 256 * 1024);

  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE(events);
  size_t replies = 0;
  for (const Event &e : *events) {
    if (e.type != "llm_response")
      continue;
    ++replies;
    const Json &response = e.data["response"];
    std::string excerpt = response.value("text", std::string());
    CHECK(response.value("text_cut", false));
    CHECK(response.value("text_size", size_t(0)) == huge.size());
    CHECK(response.value("text_sha256", std::string()) == sha256Hex(huge));
    // Cut before the character the 16 KiB boundary falls in.
    CHECK(excerpt.size() == 16 * 1024 - 1);
    CHECK(huge.compare(0, excerpt.size(), excerpt) == 0);
    CHECK(response["problems"].size() >= 1);
  }
  CHECK(replies == 3);
  // The re-asks carried the excerpt, not 50 MB, and said it was cut.
  REQUIRE(provider.calls.size() == 3);
  const std::vector<LlmMessage> &retry = provider.calls[1].messages;
  REQUIRE(retry.size() >= 2);
  CHECK(retry[retry.size() - 2].role == "assistant");
  CHECK(retry[retry.size() - 2].content.size() == 16 * 1024 - 1);
  CHECK(retry.back().content.find(std::to_string(huge.size()) +
                                  " bytes long") != std::string::npos);
}

TEST_CASE("invalid replies: a resume replays a cut invalid reply and makes "
          "only the calls not made",
          "[engine][llm][durable]") {
  TempDir tmp;
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  const std::string huge = hugeInvalidReply(1u << 20);
  // Attempt 0: a huge invalid reply; attempt 1: the provider fails.
  ScriptProvider first;
  first.replies = {huge, ""};
  RunResult stopped = runWith(*store, first, false);
  REQUIRE(stopped.status == RunStatus::FailedResumable);
  REQUIRE(first.calls.size() == 2);

  ScriptProvider second;
  second.replies = {"{\"text\": \"fixed\"}"};
  std::unique_ptr<RunStore> reopened = makeFileStore(tmp.path());
  RunResult resumed = runWith(*reopened, second, true);
  INFO((resumed.error ? resumed.error->message : ""));
  REQUIRE(resumed.status == RunStatus::Finished);
  CHECK(resumed.outputs["writer"]["text"] == "fixed");
  // Attempt 0 came from the log; only the re-ask was made, and it is the
  // request the first process made.
  REQUIRE(second.calls.size() == 1);
  CHECK(second.calls[0].computeMatchKey() == first.calls[1].computeMatchKey());
}

TEST_CASE("invalid replies: a small invalid reply is still kept whole",
          "[engine][llm][durable]") {
  std::unique_ptr<RunStore> store = makeMemoryStore();
  ScriptProvider provider;
  provider.replies = {"{\"text\": 5}", "{\"text\": \"ok\"}"};
  RunResult r = runWith(*store, provider, false);
  REQUIRE(r.status == RunStatus::Finished);
  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE(events);
  std::vector<std::string> texts;
  for (const Event &e : *events)
    if (e.type == "llm_response") {
      texts.push_back(e.data["response"]["text"].get<std::string>());
      CHECK(!e.data["response"].contains("text_cut"));
    }
  CHECK(texts ==
        std::vector<std::string>{"{\"text\": 5}", "{\"text\": \"ok\"}"});
}
