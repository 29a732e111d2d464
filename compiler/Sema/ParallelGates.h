//===- ParallelGates.h - Human gates inside parallel branches --*- C++ -*-===//
//
// A run pauses for a person at one gate at a time, outside parallel
// branches: a branch cannot stop half-way while its siblings go on, and a
// resume answers one pending gate. A human node that a fan-out reaches
// before its branches meet would therefore fail at run time, whatever
// answers a resume brings; C144 refuses it at check time instead.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_SEMA_PARALLELGATES_H
#define ITERC_SEMA_PARALLELGATES_H

#include "IR/Ir.h"

#include <vector>

namespace iterc::sema {

/// A human node inside the branches of a parallel router.
struct GateInBranch {
  unsigned gate = 0;   ///< The human node.
  unsigned router = 0; ///< The first router (in node order) whose branch reaches it.
};

/// Every human node that runs inside a parallel branch: reachable from a
/// `fan_out_all` router or a `multi` LLM router by edges that are not loop
/// back-edges, before a node where branches meet (one with `await`, a
/// classic join, or several distinct sources), as the engine walks them.
/// In node order, each gate once.
std::vector<GateInBranch> humanGatesInBranches(const ir::Workflow &wf);

} // namespace iterc::sema

#endif // ITERC_SEMA_PARALLELGATES_H
