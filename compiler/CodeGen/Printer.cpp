//===- Printer.cpp - The one printer every generated file goes through ----===//
//
// This file implements Printer: raw-string unindenting, `$var$`
// substitution that fails loudly on a missing variable, and indentation.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/Printer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

using namespace iterc::codegen;

namespace {
[[noreturn]] void bug(const std::string &message) {
  std::fprintf(stderr, "iterc: internal error in code generation: %s\n",
               message.c_str());
  std::abort();
}

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}
} // namespace

void Printer::writeLine(std::string_view line) {
  if (!blank(line)) {
    out.append(indent, ' ');
    out.append(line);
  }
  out.push_back('\n');
}

void Printer::emitImpl(const Vars &vars, std::string_view format) {
  std::vector<std::string_view> lines = splitLines(format);
  // A raw string starts after its opening line break and ends with the
  // closing delimiter's indentation: drop both.
  if (!lines.empty() && blank(lines.front()))
    lines.erase(lines.begin());
  if (!lines.empty() && blank(lines.back()))
    lines.pop_back();
  size_t common = std::string_view::npos;
  for (std::string_view line : lines)
    if (!blank(line))
      common = std::min(common, line.find_first_not_of(' '));
  if (common == std::string_view::npos)
    common = 0;

  for (std::string_view line : lines) {
    if (blank(line)) {
      writeLine("");
      continue;
    }
    line.remove_prefix(common);
    if (line.substr(0, 3) == "//~")
      continue;
    size_t lead = line.find_first_not_of(' ');
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '$') {
        text.push_back(line[i]);
        continue;
      }
      size_t close = line.find('$', i + 1);
      if (close == std::string_view::npos)
        bug("unterminated $ in a format: " + std::string(line));
      std::string_view name = line.substr(i + 1, close - i - 1);
      i = close;
      if (name.empty()) {
        text.push_back('$');
        continue;
      }
      const std::string *value = nullptr;
      for (const auto &[key, v] : vars)
        if (key == name)
          value = &v;
      if (!value)
        bug("format variable $" + std::string(name) + "$ is not set");
      // Continuation lines of a multi-line value line up with the line.
      for (char c : *value) {
        text.push_back(c);
        if (c == '\n')
          text.append(indent + lead, ' ');
      }
    }
    // Multi-line values were indented above; print line by line so that
    // blank lines inside them stay empty.
    size_t start = 0;
    bool first = true;
    while (true) {
      size_t nl = text.find('\n', start);
      std::string_view piece = std::string_view(text).substr(
          start, nl == std::string::npos ? std::string::npos : nl - start);
      if (first) {
        writeLine(piece);
        first = false;
      } else if (blank(piece)) {
        out.push_back('\n');
      } else {
        out.append(piece);
        out.push_back('\n');
      }
      if (nl == std::string::npos)
        break;
      start = nl + 1;
    }
  }
}

NamespaceScope::NamespaceScope(Printer &p, std::string name)
    : p(p), name(std::move(name)) {
  p.emit({{"name", this->name}}, R"cc(
    namespace $name$ {
  )cc");
}

NamespaceScope::~NamespaceScope() {
  p.emit({{"name", name}}, R"cc(
    } // namespace $name$
  )cc");
}

std::string iterc::codegen::cppString(std::string_view text, size_t indent) {
  std::string out = "\"";
  size_t lineStart = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      if (i + 1 < text.size() && i + 1 - lineStart >= 1) {
        out += "\"\n";
        out.append(indent, ' ');
        out += "\"";
        lineStart = i + 1;
      }
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    case '?':
      // Keep trigraph-like sequences inert.
      out += (i + 1 < text.size() && text[i + 1] == '?') ? "?\"\"" : "?";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        // Octal escapes take at most three digits: never ambiguous.
        out += '\\';
        out += char('0' + ((c >> 6) & 7));
        out += char('0' + ((c >> 3) & 7));
        out += char('0' + (c & 7));
      } else {
        out += char(c);
      }
    }
  }
  out += "\"";
  return out;
}
