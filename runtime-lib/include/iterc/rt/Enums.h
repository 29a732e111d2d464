//===- Enums.h - Small enumerations shared with generated code --*- C++ -*-===//
//
// This file declares the enumerations that both the engine's workflow
// tables (Workflow.h) and generated code (Program.h) use. It includes
// nothing, so generated code that includes it stays cheap to compile.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_ENUMS_H
#define ITERC_RT_ENUMS_H

namespace iterc::rt {

enum class FieldType { String, Bool, Int, Float, Json, StringList, Files };

/// Where a template reference reads from.
enum class RefNs { Vars, Input, Outputs, Artifacts, Loop, Run };

enum class NodeKind {
  Agent,
  Judge,
  Router,
  Join,
  Human,
  Tool,
  Compute,
  Verify,
  Done,
  Fail
};
enum class RouterMode { FanOutAll, Condition, RoundRobin, Llm };
enum class AwaitMode { None, WaitAll, BestEffort };
enum class Interaction { None, Human, Llm, LlmOrHuman };
enum class SessionMode {
  Fresh,
  Inherit,
  Fork,
  ArtifactsOnly,
  InheritIfAvailable
};
enum class EdgeCond { None, Field, Expr };

} // namespace iterc::rt

#endif // ITERC_RT_ENUMS_H
