//===- Redact.h - Keeping secrets out of what a run writes ------*- C++ -*-===//
//
// A run's secrets are the values of its secret variables, the environment
// values a secret variable's default reads with ${NAME}, and the provider
// API keys. SecretMask replaces them in text and JSON before anything is
// recorded (events, artifacts, the run record, interactions, cassettes) or
// printed.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_REDACT_H
#define ITERC_RT_REDACT_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Workflow.h"

#include <string>
#include <vector>

namespace iterc::rt {

/// Replaces secret values with a mask in text and in every string and
/// object key of a JSON value. A value shorter than 4 bytes is not masked
/// (it would mangle ordinary text and hides nothing worth hiding). A value
/// is also masked in its JSON-escaped spelling (a request body quoted in an
/// error message), and the longest values first, so that a secret holding
/// another is replaced whole.
/// Secrets shorter than this are not masked (a value of a byte or two would
/// hide ordinary text); a run refuses a secret variable that short.
constexpr size_t kMinSecretBytes = 4;

class SecretMask {
public:
  explicit SecretMask(std::string mask = "[redacted]")
      : mask(std::move(mask)) {}
  void add(const std::string &secret);
  bool empty() const { return secrets.empty(); }
  std::string apply(std::string text) const;
  Json apply(const Json &value) const;

private:
  std::string mask;
  std::vector<std::string> secrets;
};

/// The NAME of every ${NAME} and ${NAME:-default} reference in `text`,
/// nested defaults included, in order of appearance.
std::vector<std::string> envRefNames(const std::string &text);

/// Every secret of a run (see the file comment): `vars` maps variable names
/// to their resolved values; a secret that is not a string is masked in its
/// JSON spelling.
std::vector<std::string> runSecrets(const WorkflowDesc &wf, const Json &vars);

} // namespace iterc::rt

#endif // ITERC_RT_REDACT_H
