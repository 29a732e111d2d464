//===- Template.h - Pre-split {{...}} templates -----------------*- C++ -*-===//
//
// This file declares templates: prompt bodies, `with` values, tool commands
// and other strings that may hold `{{namespace.path}}` references. The
// compiler splits them once into literal text and typed references, so the
// generated program never parses a template at run time.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_IR_TEMPLATE_H
#define ITERC_IR_TEMPLATE_H

#include "Basic/SourceManager.h"

#include <string>
#include <string_view>
#include <vector>

namespace iterc::ir {

enum class RefNamespace { Vars, Input, Outputs, Artifacts, Loop, Run, Attachments };
const char *refNamespaceName(RefNamespace ns);

struct TemplateRef {
  RefNamespace ns = RefNamespace::Vars;
  std::vector<std::string> path;  ///< Segments after the namespace.
  bool raw = false;               ///< `{{!x}}`: inserted unquoted in shells.
  std::string text;               ///< The reference as written, trimmed.
  SourceRange range;              ///< Covers `{{` ... `}}`.
};

struct TemplatePart {
  bool isRef = false;
  std::string literal;
  TemplateRef ref;
};

struct Template {
  std::vector<TemplatePart> parts;
  std::string source;
  SourceRange range;

  bool empty() const { return parts.empty(); }
  bool hasRefs() const;
  /// Exactly one reference and no text around it.
  bool isSingleRef() const {
    return parts.size() == 1 && parts[0].isRef;
  }
  std::vector<const TemplateRef *> refs() const;
};

struct TemplateError {
  std::string message;
  SourceRange range;
};

/// Splits `text` into literal parts and references. Content byte i of `text`
/// is at file offset `base + i` when `exact`; otherwise every position is
/// reported as `whole`. Malformed references are reported in `errors` and
/// kept as literal text.
Template parseTemplate(std::string_view text, uint32_t base, bool exact,
                       SourceRange whole, std::vector<TemplateError> &errors);

/// Checks `${NAME}`, `${NAME:-default}` and `$NAME` environment references;
/// returns a description of the first malformed one, or "".
std::string checkEnvRefs(std::string_view text, size_t &errorAt);

} // namespace iterc::ir

#endif // ITERC_IR_TEMPLATE_H
