//===- ShellCheck.cpp - Values in tool commands, checked ------------------===//
//
// This file implements checkShellCommand and checkScriptValues
// (ShellCheck.h) on top of the runtime's scanner.
//
//===----------------------------------------------------------------------===//
#include "IR/ShellCheck.h"

#include "iterc/rt/ShellScan.h"

#include <cctype>

using namespace iterc;
using namespace iterc::ir;

namespace {

std::string written(const TemplateRef &ref) { return "{{" + ref.text + "}}"; }

/// A shell variable name for the value: its last path segment when that is
/// a plain ASCII name.
std::string variableFor(const TemplateRef &ref) {
  std::string name = ref.path.empty() ? "" : ref.path.back();
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_') ||
        static_cast<unsigned char>(c) >= 0x80)
      return "value";
  return name.empty() ? "value" : name;
}

/// Where the scanner refuses a value, what can be written instead.
void addFixIts(ShellFinding &f, shell::Refusal why, const TemplateRef &ref,
               uint32_t contentBegin) {
  SourceRange at = ref.range;
  switch (why) {
  case shell::Refusal::Arithmetic:
  case shell::Refusal::DoubleBracket:
  case shell::Refusal::Subscript:
  case shell::Refusal::IntegerVar: {
    // Checked to be a number first, the variable is safe in arithmetic.
    std::string var = variableFor(ref);
    f.fixIts.push_back(
        {SourceRange(contentBegin, contentBegin),
         var + "=" + written(ref) + "; case $" + var +
             " in ''|*[!0-9]*) echo 'not a number' >&2; exit 2;; esac; "});
    f.fixIts.push_back({at, "$" + var});
    break;
  }
  case shell::Refusal::Backslash:
  case shell::Refusal::Dollar:
    if (at.begin > contentBegin)
      f.fixIts.push_back({SourceRange(at.begin - 1, at.begin), ""});
    break;
  default:
    break;
  }
}

} // namespace

std::vector<ShellFinding> ir::checkShellCommand(const Template &t, bool bash,
                                                bool exact,
                                                uint32_t contentBegin) {
  std::vector<shell::Piece> flat;
  for (size_t k = 0; k < t.parts.size(); ++k) {
    const TemplatePart &part = t.parts[k];
    shell::Piece p;
    if (!part.isRef) {
      p.text = part.literal;
    } else if (part.ref.raw) {
      p.kind = shell::Piece::Kind::Code; // its text is known at run time
    } else {
      p.kind = shell::Piece::Kind::Ref;
      p.ref = k;
    }
    flat.push_back(std::move(p));
  }
  std::vector<shell::Piece> pieces = shell::splitEnvRefs(flat);
  std::string code;
  std::vector<size_t> offsets;
  std::vector<const shell::Piece *> values;
  for (const shell::Piece &p : pieces) {
    if (p.kind == shell::Piece::Kind::Text) {
      code += p.text;
    } else if (p.kind != shell::Piece::Kind::Code) {
      offsets.push_back(code.size());
      values.push_back(&p);
    }
  }
  std::vector<shell::SlotInfo> slots = shell::scanSlots(
      code, offsets, bash ? shell::Dialect::Bash : shell::Dialect::Posix);
  std::vector<ShellFinding> out;
  for (size_t k = 0; k < values.size(); ++k) {
    const shell::SlotInfo &slot = slots[k];
    if (slot.refusal == shell::Refusal::None && !slot.valueIsCode)
      continue;
    const shell::Piece &p = *values[k];
    const TemplateRef *ref =
        p.kind == shell::Piece::Kind::Ref ? &t.parts[p.ref].ref : nullptr;
    ShellFinding f;
    f.range = ref ? ref->range : t.range;
    f.what = ref ? written(*ref) : "${" + p.text + "}";
    if (slot.refusal != shell::Refusal::None) {
      f.refused = true;
      f.why = std::string(shell::refusalReason(slot.refusal));
      f.advice = std::string(shell::refusalAdvice(slot.refusal));
      if (ref && exact)
        addFixIts(f, slot.refusal, *ref, contentBegin);
    } else {
      f.why = "the command hands it to a shell (sh -c), eval, let or ssh, "
              "which read it as a command";
      f.advice = "pass it as an argument instead, e.g. sh -c 'printf "
                 "\"%s\\n\" \"$1\"' sh " +
                 f.what;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<ShellFinding> ir::checkScriptValues(const Template &t,
                                                const std::string &language) {
  std::vector<ShellFinding> out;
  for (const TemplatePart &part : t.parts) {
    if (!part.isRef || part.ref.raw)
      continue;
    ShellFinding f;
    f.range = part.ref.range;
    f.what = written(part.ref);
    f.why = "it is pasted into the " + language + " script as source text";
    f.advice = "give it to the script as an environment variable (env: { "
               "VALUE: \"" +
               f.what + "\" }) and read that, or write {{!" + part.ref.text +
               "}} if the value is meant as code";
    out.push_back(std::move(f));
  }
  return out;
}
