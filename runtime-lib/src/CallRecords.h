//===- CallRecords.h - A resumed run's model answers, by place --*- C++ -*-===//
//
// A resumed run answers a model call from the log only when the log holds
// an answer for that very call: the same node, parallel branch, execution
// of the node and call within the execution. The request's SHA-256 is the
// check: a recorded answer is never served to another step, even one that
// sends the same request (two branches with the same prompt, a loop's next
// iteration, a node that never ran).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_CALLRECORDS_H
#define ITERC_RT_CALLRECORDS_H

#include "InvalidReply.h"

#include "iterc/rt/Llm.h"
#include "iterc/rt/Store.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace iterc::rt {

/// Where a model call happens in a run.
struct CallPlace {
  std::string branch;    ///< "" outside a fan-out.
  std::string node;
  int64_t execution = 0; ///< How many times the node finished before.
  int64_t call = 0;      ///< Its index in the execution (attempts, tool rounds).
};

/// Tokens and cost of recorded calls.
struct CallCost {
  int64_t tokensIn = 0, tokensOut = 0;
  int64_t tokens = 0; ///< In and out.
  double costUsd = 0;
  void add(const Json &llmResponseData);
};

class CallRecords {
public:
  /// Reads the llm_response events of a log. A record without `execution`
  /// and `call` (written by an older iterc) is placed by the node_started
  /// before it in its branch. Records of a finished execution are dropped
  /// (the node is replayed from its output); so are those of the
  /// executions open when the run failed because of a step's answers
  /// (SCHEMA_INVALID): replaying them would fail the same way, so the step
  /// (and any parallel step it cut short) asks the model again.
  void load(const std::vector<Event> &events);

  enum class Kind { Missing, Recorded, Changed };
  struct Found {
    Kind kind = Kind::Missing;
    LlmResponse response;                ///< The recorded answer (Recorded),
    std::optional<InvalidReply> invalid; ///< as an excerpt when invalid.
    std::string recordedSha256; ///< What the record sent (Changed).
  };
  /// The record of the call at `place`, taken out: Recorded when it sent
  /// `requestSha256`, Changed when it sent something else.
  Found take(const CallPlace &place, const std::string &requestSha256);

  /// What every call in the log cost, each counted once.
  const CallCost &spent() const { return total; }

  /// The place fields of an llm_response event.
  static void describe(Json &data, const CallPlace &place);

private:
  using Key = std::tuple<std::string, std::string, int64_t, int64_t>;
  struct Record {
    std::string sha256;
    Json data; ///< The whole llm_response event data.
  };
  std::map<Key, Record> records;
  CallCost total;
};

} // namespace iterc::rt

#endif // ITERC_RT_CALLRECORDS_H
