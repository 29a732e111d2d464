//===- Template.cpp - Pre-split {{...}} templates -------------------------===//
//
// This file implements template splitting and environment-reference checks.
//
//===----------------------------------------------------------------------===//
#include "IR/Template.h"

using namespace iterc;
using namespace iterc::ir;

const char *ir::refNamespaceName(RefNamespace ns) {
  switch (ns) {
  case RefNamespace::Vars:
    return "vars";
  case RefNamespace::Input:
    return "input";
  case RefNamespace::Outputs:
    return "outputs";
  case RefNamespace::Artifacts:
    return "artifacts";
  case RefNamespace::Loop:
    return "loop";
  case RefNamespace::Run:
    return "run";
  case RefNamespace::Attachments:
    return "attachments";
  }
  return "vars";
}

bool Template::hasRefs() const {
  for (const TemplatePart &p : parts)
    if (p.isRef)
      return true;
  return false;
}

std::vector<const TemplateRef *> Template::refs() const {
  std::vector<const TemplateRef *> out;
  for (const TemplatePart &p : parts)
    if (p.isRef)
      out.push_back(&p.ref);
  return out;
}

static bool isIdentStart(unsigned char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c >= 0x80;
}
static bool isIdentChar(unsigned char c) {
  return isIdentStart(c) || (c >= '0' && c <= '9');
}

static std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

Template ir::parseTemplate(std::string_view text, uint32_t base, bool exact,
                           SourceRange whole,
                           std::vector<TemplateError> &errors) {
  Template t;
  t.source = std::string(text);
  t.range = whole;
  auto rangeOf = [&](size_t b, size_t e) {
    return exact ? SourceRange(base + b, base + e) : whole;
  };
  auto addLiteral = [&](std::string_view s) {
    if (s.empty())
      return;
    if (!t.parts.empty() && !t.parts.back().isRef) {
      t.parts.back().literal += s;
      return;
    }
    TemplatePart p;
    p.literal = std::string(s);
    t.parts.push_back(std::move(p));
  };
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      addLiteral(text.substr(i));
      break;
    }
    addLiteral(text.substr(i, open - i));
    size_t close = text.find("}}", open + 2);
    size_t nested = text.find("{{", open + 2);
    if (close == std::string_view::npos) {
      errors.push_back({"'{{' is never closed with '}}'",
                        rangeOf(open, text.size())});
      addLiteral(text.substr(open));
      break;
    }
    if (nested != std::string_view::npos && nested < close) {
      errors.push_back({"'{{' cannot be nested", rangeOf(nested, nested + 2)});
      addLiteral(text.substr(open, close + 2 - open));
      i = close + 2;
      continue;
    }
    std::string_view inner = trim(text.substr(open + 2, close - open - 2));
    SourceRange range = rangeOf(open, close + 2);
    i = close + 2;
    TemplateRef ref;
    ref.range = range;
    ref.text = std::string(inner);
    if (!inner.empty() && inner.front() == '!') {
      ref.raw = true;
      inner = trim(inner.substr(1));
    }
    // Split on dots; every segment must be an identifier.
    std::vector<std::string> segments;
    bool ok = !inner.empty();
    size_t start = 0;
    while (ok) {
      size_t dot = inner.find('.', start);
      std::string_view seg = inner.substr(
          start, dot == std::string_view::npos ? std::string_view::npos
                                               : dot - start);
      if (seg.empty() || !isIdentStart(seg[0])) {
        ok = false;
        break;
      }
      for (unsigned char c : seg)
        if (!isIdentChar(c))
          ok = false;
      segments.emplace_back(seg);
      if (dot == std::string_view::npos)
        break;
      start = dot + 1;
    }
    if (!ok) {
      errors.push_back({"'{{" + std::string(inner) +
                            "}}' is not a reference; write {{namespace.name}}",
                        range});
      addLiteral(text.substr(open, close + 2 - open));
      continue;
    }
    static const std::pair<const char *, RefNamespace> namespaces[] = {
        {"vars", RefNamespace::Vars},
        {"input", RefNamespace::Input},
        {"outputs", RefNamespace::Outputs},
        {"artifacts", RefNamespace::Artifacts},
        {"loop", RefNamespace::Loop},
        {"run", RefNamespace::Run},
        {"attachments", RefNamespace::Attachments}};
    bool known = false;
    for (const auto &[name, ns] : namespaces) {
      if (segments[0] == name) {
        ref.ns = ns;
        known = true;
      }
    }
    if (!known) {
      errors.push_back(
          {"unknown namespace '" + segments[0] +
               "'; use vars, input, outputs, artifacts, loop or run",
           range});
      addLiteral(text.substr(open, close + 2 - open));
      continue;
    }
    if (segments.size() < 2) {
      errors.push_back({"'{{" + segments[0] +
                            "}}' needs a name after the namespace, e.g. {{" +
                            segments[0] + ".x}}",
                        range});
      addLiteral(text.substr(open, close + 2 - open));
      continue;
    }
    ref.path.assign(segments.begin() + 1, segments.end());
    TemplatePart p;
    p.isRef = true;
    p.ref = std::move(ref);
    t.parts.push_back(std::move(p));
  }
  return t;
}

std::string ir::checkEnvRefs(std::string_view text, size_t &errorAt) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{')
      continue;
    size_t j = i + 2;
    if (j >= text.size() || !isIdentStart(text[j]) ||
        static_cast<unsigned char>(text[j]) >= 0x80) {
      errorAt = i;
      return "'${' must be followed by a variable name";
    }
    while (j < text.size() && isIdentChar(text[j]) &&
           static_cast<unsigned char>(text[j]) < 0x80)
      ++j;
    if (j < text.size() && text[j] == '}') {
      i = j;
      continue;
    }
    if (text.compare(j, 2, ":-") == 0) {
      int depth = 1;
      size_t k = j + 2;
      for (; k < text.size() && depth > 0; ++k) {
        if (text[k] == '{')
          ++depth;
        else if (text[k] == '}')
          --depth;
      }
      if (depth != 0) {
        errorAt = i;
        return "'${...' is never closed with '}'";
      }
      i = k - 1;
      continue;
    }
    errorAt = i;
    return "expected '}' or ':-default' after the variable name";
  }
  return std::string();
}
