//===- ServiceWatch.h - Services that ended during a run --------*- C++ -*-===//
//
// A service that crashes mid-run must not go unnoticed: the engine asks the
// stack which services ended on their own (before and after each verify
// node, and before the stack goes down), records a `service_exited` event
// for each, and fails a verify node that reaches a service that ended and
// was not restarted, saying how it ended and showing the end of its log.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_SERVICEWATCH_H
#define ITERC_RT_SRC_SERVICEWATCH_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Stack.h"
#include "iterc/rt/Workflow.h"

#include <set>
#include <string>

namespace iterc::rt {

/// The services verify node `n` reaches: those of its HTTP checks and the
/// `service` of each of its `assertions` (as rendered for this run).
std::set<std::string> servicesReached(const NodeDesc &n,
                                      const Json &assertions);

/// The data of a `service_exited` event.
Json serviceExitJson(const ServiceExit &exit);

/// Why verify node `node` cannot run: a service it reaches ended.
Error serviceEndedError(const std::string &node, const ServiceExit &exit);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_SERVICEWATCH_H
