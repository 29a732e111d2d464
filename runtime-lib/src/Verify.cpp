//===- Verify.cpp - What verify nodes check, and how they say it ----------===//
//
// This file implements the run-state-free part of verify nodes: named
// checks with their operands, HTTP responses against a probe's
// expectations, and the wording of failures (see Verify.h).
//
//===----------------------------------------------------------------------===//
#include "Verify.h"

using namespace iterc::rt;

namespace {

/// What expect_json expressions see: the response body as `input`, the run
/// for every other namespace (`vars.x`, `outputs.n.f`...).
class BodyScope : public Scope {
public:
  BodyScope(const Scope &run, const Json &body) : run(run), body(body) {}
  std::optional<Json> get(RefNs ns,
                          const std::vector<std::string> &path) const override {
    if (ns == RefNs::Input)
      return drill(body, path, 0);
    return run.get(ns, path);
  }
  std::string workspace() const override { return run.workspace(); }

private:
  const Scope &run;
  const Json &body;
};

/// `actual` of a failed check: "a = 1, length(b) = 2", or the value itself
/// when the check has no operands.
Json operandsText(const CheckDesc &c, const Scope &scope, const Json &value) {
  if (c.operands.empty())
    return value;
  std::string out;
  for (const OperandDesc &op : c.operands) {
    Json v = op.fn ? op.fn(scope) : Json();
    out += (out.empty() ? "" : ", ") + op.text + " = " + verify::shortText(v);
  }
  return out;
}

} // namespace

Json verify::failure(const std::string &check, const std::string &expected,
                     Json actual) {
  Json f = Json::object();
  f["check"] = check;
  f["expected"] = expected;
  f["actual"] = std::move(actual);
  return f;
}

std::string verify::clipText(const std::string &text, size_t max) {
  if (text.size() <= max)
    return text;
  size_t cut = max;
  // Back up to the start of a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  return text.substr(0, cut) + "...";
}

std::string verify::shortText(const Json &value, size_t max) {
  return clipText(value.dump(-1, ' ', false, Json::error_handler_t::replace),
                  max);
}

void verify::runChecks(const std::vector<CheckDesc> &checks, const Scope &scope,
                       Json &failures, const std::string &prefix) {
  for (const CheckDesc &c : checks) {
    Json value = c.fn ? c.fn(scope) : Json();
    if (!expr::truthy(value))
      failures.push_back(
          failure(prefix + c.name, c.source, operandsText(c, scope, value)));
  }
}

void verify::checkResponse(const HttpCheckDesc &h, const HttpResponse &r,
                           const Scope &run, Json &failures) {
  std::string status = "HTTP " + std::to_string(r.status);
  std::string excerpt = clipText(r.body, 200);
  if (r.status != h.expectStatus)
    failures.push_back(
        failure(h.name, "HTTP " + std::to_string(h.expectStatus),
                status + (excerpt.empty() ? "" : ": " + excerpt)));
  if (h.expectBodyContains &&
      r.body.find(*h.expectBodyContains) == std::string::npos)
    failures.push_back(failure(
        h.name, "body containing '" + *h.expectBodyContains + "'", excerpt));
  if (h.expectJson.empty())
    return;
  std::optional<Json> body = parseJson(r.body);
  if (!body) {
    for (const auto &[name, check] : h.expectJson)
      failures.push_back(
          failure(h.name + "." + name, check.source,
                  status + ", a body that is not JSON: " + excerpt));
    return;
  }
  BodyScope scope(run, *body);
  std::vector<CheckDesc> checks;
  for (const auto &[name, check] : h.expectJson) {
    checks.push_back(check);
    checks.back().name = name;
  }
  runChecks(checks, scope, failures, h.name + ".");
}

std::string verify::summary(const Json &failures, size_t max) {
  if (!failures.is_array())
    return "";
  std::string out;
  size_t shown = 0;
  for (const Json &f : failures) {
    if (shown == max)
      break;
    if (!f.is_object())
      continue;
    // Read as text whatever the type: failures may come from a store on
    // disk.
    auto field = [&](const char *key) {
      auto it = f.find(key);
      if (it == f.end())
        return std::string();
      return it->is_string() ? it->get<std::string>() : shortText(*it);
    };
    out += std::string(shown ? "; " : "") + field("check") + ": expected " +
           field("expected") + ", actual " + field("actual");
    ++shown;
  }
  if (failures.size() > shown)
    out += "; and " + std::to_string(failures.size() - shown) + " more";
  return out;
}
