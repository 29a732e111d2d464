//===- ServiceWatch.cpp - Services that ended during a run ----------------===//
//
// This file implements ServiceWatch.h. The messages and events carry the
// log tail as the runtime gave it; the engine passes both through the
// run's redactor like everything else it records.
//
//===----------------------------------------------------------------------===//
#include "ServiceWatch.h"

using namespace iterc::rt;

std::set<std::string> iterc::rt::servicesReached(const NodeDesc &n,
                                                 const Json &assertions) {
  std::set<std::string> names;
  for (const HttpCheckDesc &h : n.httpChecks)
    if (!h.service.empty())
      names.insert(h.service);
  if (assertions.is_array())
    for (const Json &a : assertions)
      if (a.is_object()) {
        auto it = a.find("service");
        if (it != a.end() && it->is_string())
          names.insert(it->get<std::string>());
      }
  return names;
}

Json iterc::rt::serviceExitJson(const ServiceExit &exit) {
  Json data = Json::object();
  data["service"] = exit.service;
  data["how"] = exit.how;
  data["log_tail"] = exit.logTail;
  return data;
}

Error iterc::rt::serviceEndedError(const std::string &node,
                                   const ServiceExit &exit) {
  return Error(ErrorCode::Tool,
               "verify '" + node + "' reaches service '" + exit.service +
                   "', which " + exit.how +
                   " during the run and was not restarted" +
                   (exit.logTail.empty()
                        ? " (its log is empty)"
                        : "; the end of its log:\n" + exit.logTail));
}
