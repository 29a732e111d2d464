//===- Formatter.cpp - Canonical form of a .iter file ---------------------===//
//
// This file implements formatFile, the printer behind `iterc fmt`.
//
// The printer walks the AST and emits output lines. Every construct that
// starts a line (a declaration header, a property, a field, an edge, a map
// entry printed on its own line, a closing bracket) is emitted with an
// anchor: the byte offset where it starts in the source. Before a line is
// emitted, every comment that starts before its anchor is flushed: a
// trailing comment goes at the end of the last line printed, two spaces
// after it; an own-line comment goes on its own line at the indentation of
// the construct about to be printed. Comments left at the end go last. Each
// comment is printed exactly once.
//
// Raw text (prompt bodies and `|` block scalars) is printed verbatim and
// never receives a trailing comment: that would change the text.
//
//===----------------------------------------------------------------------===//
#include "Tools/Formatter.h"

#include <algorithm>
#include <limits>

using namespace iterc;

namespace {

constexpr unsigned MaxColumns = 80;
constexpr uint32_t NoAnchor = std::numeric_limits<uint32_t>::max();

struct OutLine {
  unsigned indent = 0;
  std::string text;
  /// Part of a prompt body or a block scalar: nothing may be appended.
  bool raw = false;
};

class Printer {
public:
  Printer(const ast::File &file, const SourceManager &sources);
  std::string run();

private:
  // Declarations.
  void printDecl(const ast::Decl &decl, bool blankBefore);
  void printVars(const ast::VarsDecl &vars, unsigned indent,
                 bool blankBefore);
  void printPrompt(const ast::PromptDecl &prompt, bool blankBefore);
  void printField(const ast::Field &field, unsigned indent);
  void printProperty(const ast::Property &prop, unsigned indent);
  void printWorkflow(const ast::WorkflowDecl &wf, bool blankBefore);
  void printEdge(const ast::Edge &edge, unsigned indent);

  // Values.
  void printValue(uint32_t anchor, unsigned indent, const std::string &head,
                  const ast::Value &v, const std::string &tail);
  void printMap(uint32_t anchor, unsigned indent, const std::string &head,
                const std::vector<ast::MapEntry> &entries, SourceRange range,
                const std::string &tail);
  std::string inlineValue(const ast::Value &v) const;
  std::string keyText(const ast::MapEntry &entry) const;
  std::string inlineMap(const std::vector<ast::MapEntry> &entries) const;
  std::string stringText(const ast::Value &v) const;
  bool needsLines(const ast::Value &v) const;
  bool hasBlock(const ast::Value &v) const;
  bool hasCommentIn(SourceRange range) const;

  // Lines and comments.
  void emit(uint32_t anchor, unsigned indent, std::string text,
            bool blankBefore = false);
  void emitRaw(unsigned indent, std::string text);
  void flush(uint32_t before, unsigned indent, bool blankBefore);
  void addBlank();
  unsigned lineOf(uint32_t offset) const;
  bool blankLinesBetween(unsigned first, unsigned last) const;
  unsigned propertyEndLine(const ast::Property &prop) const;
  unsigned valueEndLine(const ast::Value &v, uint32_t fallback) const;

  const ast::File &file;
  const SourceManager &sources;
  std::vector<ast::Comment> comments;
  size_t nextComment = 0;
  std::vector<OutLine> out;
};

} // namespace

Printer::Printer(const ast::File &file, const SourceManager &sources)
    : file(file), sources(sources), comments(file.comments) {
  std::stable_sort(comments.begin(), comments.end(),
                   [](const ast::Comment &a, const ast::Comment &b) {
                     return a.offset < b.offset;
                   });
  for (ast::Comment &c : comments) {
    size_t end = c.text.find_last_not_of(" \t\f");
    c.text.erase(end == std::string::npos ? 0 : end + 1);
  }
}

std::string Printer::run() {
  for (size_t i = 0; i < file.decls.size(); ++i)
    printDecl(*file.decls[i], i > 0);
  flush(NoAnchor, 0, false);
  std::string result;
  for (const OutLine &line : out) {
    if (!line.text.empty()) {
      result.append(line.indent * 2, ' ');
      result += line.text;
    }
    result += '\n';
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Lines and comments
//===----------------------------------------------------------------------===//

unsigned Printer::lineOf(uint32_t offset) const {
  return sources.getLineColumn(file.fileId, offset).line;
}

/// True when a line strictly between `first` and `last` is blank.
bool Printer::blankLinesBetween(unsigned first, unsigned last) const {
  for (unsigned line = first + 1; line < last; ++line) {
    std::string_view text = sources.getLineText(file.fileId, line);
    if (text.find_first_not_of(" \t\f") == std::string_view::npos)
      return true;
  }
  return false;
}

void Printer::addBlank() {
  if (!out.empty() && !(out.back().text.empty() && !out.back().raw))
    out.push_back(OutLine());
}

void Printer::flush(uint32_t before, unsigned indent, bool blankBefore) {
  bool blankDone = !blankBefore;
  bool ownEmitted = false;
  unsigned lastCommentLine = 0;
  while (nextComment < comments.size() &&
         comments[nextComment].offset < before) {
    const ast::Comment &c = comments[nextComment++];
    unsigned line = lineOf(c.offset);
    if (!c.ownLine && !ownEmitted && !out.empty() && !out.back().raw &&
        !out.back().text.empty()) {
      out.back().text += "  " + c.text;
      continue;
    }
    if (!blankDone) {
      addBlank();
      blankDone = true;
    } else if (ownEmitted && blankLinesBetween(lastCommentLine, line)) {
      addBlank();
    }
    OutLine comment;
    comment.indent = indent;
    comment.text = c.text;
    out.push_back(std::move(comment));
    ownEmitted = true;
    lastCommentLine = line;
  }
  if (!blankDone)
    addBlank();
  else if (ownEmitted && before != NoAnchor &&
           blankLinesBetween(lastCommentLine, lineOf(before)))
    addBlank();
}

void Printer::emit(uint32_t anchor, unsigned indent, std::string text,
                   bool blankBefore) {
  flush(anchor, indent, blankBefore);
  OutLine line;
  line.indent = indent;
  line.text = std::move(text);
  out.push_back(std::move(line));
}

void Printer::emitRaw(unsigned indent, std::string text) {
  OutLine line;
  line.indent = text.empty() ? 0 : indent;
  line.text = std::move(text);
  line.raw = true;
  out.push_back(std::move(line));
}

unsigned Printer::valueEndLine(const ast::Value &v, uint32_t fallback) const {
  if (v.isString() && v.form == ast::Value::StringForm::Block) {
    size_t count = std::count(v.text.begin(), v.text.end(), '\n');
    unsigned first = lineOf(v.range.begin);
    return count == 0 ? first : first + unsigned(count) - 1;
  }
  return lineOf(fallback);
}

/// The last source line of a property. Ranges that end with a virtual token
/// (a DEDENT, or the NEWLINE after a block scalar) end on the next item's
/// line, so the end is computed from the content instead.
unsigned Printer::propertyEndLine(const ast::Property &prop) const {
  if (prop.isBlock)
    return prop.children.empty() ? lineOf(prop.range.begin)
                                 : propertyEndLine(prop.children.back());
  return valueEndLine(prop.value, prop.range.end);
}

bool Printer::hasCommentIn(SourceRange range) const {
  auto it = std::upper_bound(
      comments.begin(), comments.end(), range.begin,
      [](uint32_t offset, const ast::Comment &c) { return offset < c.offset; });
  return it != comments.end() && it->offset < range.end;
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

std::string Printer::keyText(const ast::MapEntry &entry) const {
  if (!entry.quotedKey)
    return entry.key.text;
  ast::Value asString;
  asString.text = entry.key.text;
  return stringText(asString);
}

std::string Printer::stringText(const ast::Value &v) const {
  if (v.form == ast::Value::StringForm::Raw)
    return "`" + v.text + "`";
  if (!file.strictEscapes)
    return "\"" + v.text + "\"";
  std::string s = "\"";
  for (char c : v.text) {
    switch (c) {
    case '"':
      s += "\\\"";
      break;
    case '\\':
      s += "\\\\";
      break;
    case '\n':
      s += "\\n";
      break;
    case '\t':
      s += "\\t";
      break;
    case '\r':
      s += "\\r";
      break;
    case '\0':
      s += "\\0";
      break;
    default:
      s.push_back(c);
    }
  }
  s += "\"";
  return s;
}

bool Printer::hasBlock(const ast::Value &v) const {
  switch (v.kind) {
  case ast::Value::Kind::String:
    return v.form == ast::Value::StringForm::Block;
  case ast::Value::Kind::List:
    return std::any_of(v.items.begin(), v.items.end(),
                       [&](const ast::Value &item) { return hasBlock(item); });
  case ast::Value::Kind::Map:
    return std::any_of(v.entries.begin(), v.entries.end(),
                       [&](const ast::MapEntry &e) {
                         return e.value && hasBlock(*e.value);
                       });
  default:
    return false;
  }
}

/// A map or list printed one entry per line: it holds a block scalar, or a
/// comment that could not be put back on one line.
bool Printer::needsLines(const ast::Value &v) const {
  if (v.kind != ast::Value::Kind::Map && v.kind != ast::Value::Kind::List)
    return false;
  if (v.kind == ast::Value::Kind::Map ? v.entries.empty() : v.items.empty())
    return false;
  return hasBlock(v) || hasCommentIn(v.range);
}

std::string
Printer::inlineMap(const std::vector<ast::MapEntry> &entries) const {
  if (entries.empty())
    return "{}";
  std::string s = "{ ";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0)
      s += ", ";
    s += keyText(entries[i]) + ": ";
    if (entries[i].value)
      s += inlineValue(*entries[i].value);
  }
  return s + " }";
}

std::string Printer::inlineValue(const ast::Value &v) const {
  switch (v.kind) {
  case ast::Value::Kind::String:
    if (v.form == ast::Value::StringForm::Block)
      return "|";
    return stringText(v);
  case ast::Value::Kind::Int:
  case ast::Value::Kind::Float:
  case ast::Value::Kind::Bool:
  case ast::Value::Kind::Ref:
    return v.text;
  case ast::Value::Kind::List: {
    std::string s = "[";
    for (size_t i = 0; i < v.items.size(); ++i) {
      if (i > 0)
        s += ", ";
      s += inlineValue(v.items[i]);
    }
    return s + "]";
  }
  case ast::Value::Kind::Map:
    return inlineMap(v.entries);
  }
  return v.text;
}

/// Prints `head` followed by `v` on a line at `indent`, and `tail` after the
/// value's last line. Block scalars, and maps and lists that need it, span
/// several lines.
void Printer::printValue(uint32_t anchor, unsigned indent,
                         const std::string &head, const ast::Value &v,
                         const std::string &tail) {
  if (v.isString() && v.form == ast::Value::StringForm::Block) {
    emit(anchor, indent, head + "|");
    // Only a trailing comment on the `key: |` line can come before the text.
    flush(v.range.begin, indent, false);
    size_t start = 0;
    while (start < v.text.size()) {
      size_t nl = v.text.find('\n', start);
      if (nl == std::string::npos)
        nl = v.text.size();
      emitRaw(indent + 1, v.text.substr(start, nl - start));
      start = nl + 1;
    }
    return;
  }
  if (!needsLines(v)) {
    emit(anchor, indent, head + inlineValue(v) + tail);
    return;
  }
  if (v.kind == ast::Value::Kind::Map) {
    printMap(anchor, indent, head, v.entries, v.range, tail);
    return;
  }
  emit(anchor, indent, head + "[");
  for (size_t i = 0; i < v.items.size(); ++i) {
    const ast::Value &item = v.items[i];
    printValue(item.range.begin, indent + 1, "", item,
               i + 1 < v.items.size() ? "," : "");
  }
  emit(v.range.end > v.range.begin ? v.range.end - 1 : v.range.end, indent,
       "]" + tail);
}

/// A map one entry per line; `range` ends with its closing brace.
void Printer::printMap(uint32_t anchor, unsigned indent,
                       const std::string &head,
                       const std::vector<ast::MapEntry> &entries,
                       SourceRange range, const std::string &tail) {
  emit(anchor, indent, head + "{");
  for (size_t i = 0; i < entries.size(); ++i) {
    const ast::MapEntry &entry = entries[i];
    ast::Value empty;
    const ast::Value &value = entry.value ? *entry.value : empty;
    // Commas are optional in maps; none follows a block scalar, whose text
    // would otherwise swallow it.
    bool block =
        value.isString() && value.form == ast::Value::StringForm::Block;
    bool comma = i + 1 < entries.size() && !block;
    printValue(entry.key.range.begin, indent + 1, keyText(entry) + ": ", value,
               comma ? "," : "");
  }
  emit(range.end > range.begin ? range.end - 1 : range.end, indent,
       "}" + tail);
}

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

void Printer::printDecl(const ast::Decl &decl, bool blankBefore) {
  uint32_t at = decl.range.begin;
  switch (decl.getKind()) {
  case ast::Decl::Kind::Vars:
    printVars(static_cast<const ast::VarsDecl &>(decl), 0, blankBefore);
    return;
  case ast::Decl::Kind::Presets: {
    const auto &presets = static_cast<const ast::PresetsDecl &>(decl);
    emit(at, 0, "presets:", blankBefore);
    for (const ast::Preset &preset : presets.presets) {
      emit(preset.range.begin, 1, preset.name.text + ":");
      for (const ast::Property &prop : preset.values)
        printProperty(prop, 2);
    }
    return;
  }
  case ast::Decl::Kind::Prompt:
    printPrompt(static_cast<const ast::PromptDecl &>(decl), blankBefore);
    return;
  case ast::Decl::Kind::Schema: {
    const auto &schema = static_cast<const ast::SchemaDecl &>(decl);
    emit(at, 0, "schema " + schema.name.text + ":", blankBefore);
    for (const ast::Field &field : schema.fields)
      printField(field, 1);
    return;
  }
  case ast::Decl::Kind::Node: {
    const auto &node = static_cast<const ast::NodeDecl &>(decl);
    emit(at, 0, node.keyword + " " + node.name.text + ":", blankBefore);
    for (const ast::Property &prop : node.properties)
      printProperty(prop, 1);
    return;
  }
  case ast::Decl::Kind::Block: {
    const auto &block = static_cast<const ast::BlockDecl &>(decl);
    emit(at, 0, block.keyword + ":", blankBefore);
    for (const ast::Property &prop : block.properties)
      printProperty(prop, 1);
    return;
  }
  case ast::Decl::Kind::Workflow:
    printWorkflow(static_cast<const ast::WorkflowDecl &>(decl), blankBefore);
    return;
  }
}

void Printer::printVars(const ast::VarsDecl &vars, unsigned indent,
                        bool blankBefore) {
  emit(vars.range.begin, indent, "vars:", blankBefore);
  for (const ast::Field &field : vars.vars)
    printField(field, indent + 1);
}

void Printer::printPrompt(const ast::PromptDecl &prompt, bool blankBefore) {
  emit(prompt.range.begin, 0, "prompt " + prompt.name.text + ":",
       blankBefore);
  if (prompt.lines.empty())
    return;
  // Only a trailing comment on the header line can come before the body.
  flush(prompt.lines.front().offset, 0, false);
  for (const ast::PromptLine &line : prompt.lines)
    emitRaw(1, line.text);
}

/// `name: type [enum: "a", "b"] [secret] = default`
void Printer::printField(const ast::Field &field, unsigned indent) {
  std::string head = field.name.text + ": " + field.type.name.text;
  if (field.type.list)
    head += "[]";
  if (field.hasEnum) {
    head += " [enum: ";
    for (size_t i = 0; i < field.enumValues.size(); ++i) {
      if (i > 0)
        head += ", ";
      head += inlineValue(field.enumValues[i]);
    }
    head += "]";
  }
  if (!field.modifier.text.empty())
    head += " " + field.modifier.text;
  if (!field.defaultValue) {
    emit(field.range.begin, indent, head);
    return;
  }
  printValue(field.range.begin, indent, head + " = ", *field.defaultValue, "");
}

void Printer::printProperty(const ast::Property &prop, unsigned indent) {
  if (!prop.isBlock) {
    printValue(prop.range.begin, indent, prop.key.text + ": ", prop.value,
               "");
    return;
  }
  emit(prop.range.begin, indent, prop.key.text + ":");
  for (const ast::Property &child : prop.children)
    printProperty(child, indent + 1);
}

void Printer::printWorkflow(const ast::WorkflowDecl &wf, bool blankBefore) {
  emit(wf.range.begin, 0, "workflow " + wf.name.text + ":", blankBefore);
  using Kind = ast::WorkflowDecl::Item::Kind;
  unsigned prevEnd = 0;
  for (size_t i = 0; i < wf.items.size(); ++i) {
    const ast::WorkflowDecl::Item &item = wf.items[i];
    uint32_t begin = 0;
    unsigned end = 0;
    switch (item.kind) {
    case Kind::Property: {
      const ast::Property &prop = wf.properties[item.index];
      begin = prop.range.begin;
      end = propertyEndLine(prop);
      break;
    }
    case Kind::Edge: {
      const ast::Edge &edge = wf.edges[item.index];
      begin = edge.range.begin;
      end = lineOf(edge.range.end);
      break;
    }
    case Kind::Vars: {
      const ast::VarsDecl &vars = *wf.vars[item.index];
      begin = vars.range.begin;
      end = vars.vars.empty() ? lineOf(begin)
                              : lineOf(vars.vars.back().range.end);
      break;
    }
    }
    bool blank = i > 0 && blankLinesBetween(prevEnd, lineOf(begin));
    prevEnd = end;
    switch (item.kind) {
    case Kind::Property:
      // The blank line goes before the comments that precede the item.
      flush(begin, 1, blank);
      printProperty(wf.properties[item.index], 1);
      break;
    case Kind::Edge:
      flush(begin, 1, blank);
      printEdge(wf.edges[item.index], 1);
      break;
    case Kind::Vars:
      printVars(*wf.vars[item.index], 1, blank);
      break;
    }
  }
}

/// `src -> dst when ... as name(cap) with { ... }`
void Printer::printEdge(const ast::Edge &edge, unsigned indent) {
  std::string head = edge.src.text + " -> " + edge.dst.text;
  if (edge.when) {
    head += " when ";
    if (edge.when->negated)
      head += "not ";
    head += edge.when->isExpr ? stringText(edge.when->expr)
                              : edge.when->field.text;
  }
  if (edge.loop) {
    head += " as " + edge.loop->name.text + "(";
    head += edge.loop->cap.isString() ? stringText(edge.loop->cap)
                                      : edge.loop->cap.text;
    head += ")";
  }
  if (!edge.with) {
    emit(edge.range.begin, indent, head);
    return;
  }
  const ast::WithClause &with = *edge.with;
  head += " with ";
  bool lines = with.entries.size() > 1 || hasCommentIn(with.range);
  for (const ast::MapEntry &entry : with.entries)
    if (entry.value && hasBlock(*entry.value))
      lines = true;
  std::string oneLine = head + inlineMap(with.entries);
  if (indent * 2 + countCodePoints(oneLine) > MaxColumns &&
      !with.entries.empty())
    lines = true;
  if (!lines) {
    emit(edge.range.begin, indent, oneLine);
    return;
  }
  printMap(edge.range.begin, indent, head, with.entries, with.range, "");
}

std::string iterc::formatFile(const ast::File &file,
                              const SourceManager &sources) {
  Printer printer(file, sources);
  return printer.run();
}
