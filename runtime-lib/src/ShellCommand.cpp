//===- ShellCommand.cpp - Values into tool commands, as data --------------===//
//
// This file implements renderShell and renderTextWithEnv (Scope.h). A shell
// command receives each value — a `{{ref}}` or a `${NAME}` environment
// reference — through a variable assigned, single-quoted, at the top of the
// script (`__iterc_1='…'`), and a reference to that variable written in the
// form the value's context needs (ShellScan.h). The value's bytes are never
// read by the shell as code; a context where that cannot be assured is an
// error, not a command run anyway.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Scope.h"
#include "iterc/rt/ShellScan.h"

#include <cstdlib>

using namespace iterc::rt;
namespace shell = iterc::shell;

namespace {

std::string textOf(const Json &v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return std::string();
  return v.dump();
}

std::string refText(const TemplateRef &ref) {
  static const char *const names[] = {"vars",      "input", "outputs",
                                      "artifacts", "loop",  "run"};
  std::string out = "{{";
  out += names[static_cast<size_t>(ref.ns)];
  for (const std::string &seg : ref.path)
    out += "." + seg;
  return out + "}}";
}

/// The template as pieces: author text (where `${NAME}` is read), values,
/// and raw `{{!x}}` values as code.
std::vector<shell::Piece> piecesOf(const Template &t, const Scope &scope) {
  std::vector<shell::Piece> flat;
  for (size_t k = 0; k < t.parts.size(); ++k) {
    const TemplatePart &part = t.parts[k];
    shell::Piece p;
    if (!part.ref) {
      p.text = part.literal;
    } else if (part.ref->raw) {
      p.kind = shell::Piece::Kind::Code;
      std::optional<Json> v = scope.get(part.ref->ns, part.ref->path);
      p.text = v ? textOf(*v) : std::string();
    } else {
      p.kind = shell::Piece::Kind::Ref;
      p.ref = k;
    }
    flat.push_back(std::move(p));
  }
  return shell::splitEnvRefs(flat);
}

std::string valueOf(const shell::Piece &p, const Template &t,
                    const Scope &scope);

/// `${NAME}`: the runner's variable when set and not empty, else the
/// default (as text), else nothing — as expandEnv.
std::string envValue(const shell::Piece &p, const Template &t,
                     const Scope &scope) {
  const char *value = std::getenv(p.text.c_str());
  if (value && *value)
    return value;
  std::string out;
  if (p.hasDefault)
    for (const shell::Piece &f : p.fallback)
      out += valueOf(f, t, scope);
  return out;
}

std::string valueOf(const shell::Piece &p, const Template &t,
                    const Scope &scope) {
  switch (p.kind) {
  case shell::Piece::Kind::Text:
  case shell::Piece::Kind::Code:
    return p.text;
  case shell::Piece::Kind::Ref: {
    const TemplateRef &ref = *t.parts[p.ref].ref;
    std::optional<Json> v = scope.get(ref.ns, ref.path);
    return v ? textOf(*v) : std::string();
  }
  case shell::Piece::Kind::Env:
    return envValue(p, t, scope);
  }
  return std::string();
}

std::string describe(const shell::Piece &p, const Template &t) {
  if (p.kind == shell::Piece::Kind::Ref)
    return refText(*t.parts[p.ref].ref);
  return "${" + p.text + "}";
}

} // namespace

Expected<std::string> iterc::rt::renderShell(const Template &t,
                                             const Scope &scope,
                                             shell::Dialect dialect) {
  std::vector<shell::Piece> pieces = piecesOf(t, scope);
  std::string code;
  std::vector<size_t> offsets;
  std::vector<const shell::Piece *> values;
  for (const shell::Piece &p : pieces) {
    if (p.kind == shell::Piece::Kind::Text ||
        p.kind == shell::Piece::Kind::Code) {
      code += p.text;
      continue;
    }
    offsets.push_back(code.size());
    values.push_back(&p);
  }
  if (values.empty())
    return code;
  std::vector<shell::SlotInfo> slots = shell::scanSlots(code, offsets, dialect);
  std::string preamble, out;
  size_t from = 0;
  for (size_t k = 0; k < values.size(); ++k) {
    if (slots[k].refusal != shell::Refusal::None)
      return Error(ErrorCode::InvalidInput,
                   "the value of " + describe(*values[k], t) +
                       " cannot be put into this command: it is " +
                       std::string(shell::refusalReason(slots[k].refusal)) +
                       "; " +
                       std::string(shell::refusalAdvice(slots[k].refusal)));
    std::string value = valueOf(*values[k], t, scope);
    if (value.find('\0') != std::string::npos)
      return Error(ErrorCode::InvalidInput,
                   "the value of " + describe(*values[k], t) +
                       " contains a NUL byte, which no shell command can "
                       "carry");
    std::string var = "__iterc_" + std::to_string(k + 1);
    preamble += shell::assignment(var, value) + "\n";
    out.append(code, from, offsets[k] - from);
    out += shell::slotReference(slots[k].context, var);
    from = offsets[k];
  }
  out.append(code, from, std::string::npos);
  return preamble + out;
}

std::string iterc::rt::renderTextWithEnv(const Template &t,
                                         const Scope &scope) {
  std::string out;
  for (const shell::Piece &p : piecesOf(t, scope))
    out += valueOf(p, t, scope);
  return out;
}
