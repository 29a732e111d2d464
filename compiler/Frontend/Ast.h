//===- Ast.h - Abstract syntax tree of a .iter file -------------*- C++ -*-===//
//
// This file declares the AST that the AST builder produces from the ANTLR
// parse tree. The parse tree never leaves the front end: everything after it
// works on these types, which carry byte ranges into the file and nothing of
// ANTLR. The AST is immutable once built; semantic analysis writes its
// results into the IR, not back into the AST.
//
// Node bodies are kept as ordered property lists (key, value, range): which
// keys a kind accepts is a semantic question, answered with a diagnostic that
// names the property, not with a syntax error.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_FRONTEND_AST_H
#define ITERC_FRONTEND_AST_H

#include "Basic/SourceManager.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iterc::ast {

struct Name {
  std::string text;
  SourceRange range;
};

struct Value;

struct MapEntry {
  Name key;
  bool quotedKey = false;  ///< Written as a string (`"Content-Type": ...`).
  std::unique_ptr<Value> value;
};

/// A property value as written.
struct Value {
  enum class Kind { String, Int, Float, Bool, Ref, List, Map };
  /// How a string was written; fmt keeps the form.
  enum class StringForm { Quoted, Raw, Block };

  Kind kind = Kind::String;
  SourceRange range;

  // String: the decoded content. Ref: the dotted text. Int/Float: as written.
  std::string text;
  StringForm form = StringForm::Quoted;
  /// Byte offset of the first content character of a string. When
  /// `offsetsExact` is true, content byte i sits at contentOffset + i, so
  /// diagnostics can point inside the string.
  uint32_t contentOffset = 0;
  bool offsetsExact = true;

  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  std::vector<Name> refParts;     // Ref
  std::vector<Value> items;       // List
  std::vector<MapEntry> entries;  // Map

  bool isString() const { return kind == Kind::String; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float; }
  /// A one-word reference such as `fresh` or a schema name.
  bool isWord() const { return kind == Kind::Ref && refParts.size() == 1; }
  /// Text usable as a word or string ("fresh" and fresh both give fresh).
  const std::string &asText() const { return text; }
  double asNumber() const {
    return kind == Kind::Int ? double(intValue) : floatValue;
  }
};

/// `key: value` or `key:` followed by an indented block of properties.
struct Property {
  Name key;
  SourceRange range;
  bool isBlock = false;
  Value value;                       // when !isBlock
  std::vector<Property> children;    // when isBlock
};

/// `string`, `json`, `string[]`, ...
struct TypeRef {
  Name name;
  bool list = false;
  SourceRange range;
};

/// A schema field or a variable: `name: type [enum: ...] [= default]`.
struct Field {
  Name name;
  TypeRef type;
  bool hasEnum = false;
  std::vector<Value> enumValues;
  std::optional<Value> defaultValue;
  /// A variable's modifier (`token: string secret`); empty text when there
  /// is none. Sema checks that it says `secret` (C134).
  Name modifier;
  SourceRange range;
};

struct PromptLine {
  std::string text;     ///< Base indentation stripped.
  uint32_t offset = 0;  ///< Byte offset of text[0] in the file.
};

struct WhenClause {
  bool negated = false;
  bool isExpr = false;
  Name field;           // !isExpr
  Value expr;           // isExpr (a string)
  SourceRange range;
};

struct LoopClause {
  Name name;
  Value cap;            // Int, or String holding a template
  SourceRange range;
};

struct WithClause {
  std::vector<MapEntry> entries;
  SourceRange range;
};

struct Edge {
  Name src;
  Name dst;
  std::optional<WhenClause> when;
  std::optional<LoopClause> loop;
  std::optional<WithClause> with;
  SourceRange range;
};

/// Base of every top-level declaration (LLVM-style RTTI through `kind`).
class Decl {
public:
  enum class Kind { Vars, Presets, Prompt, Schema, Node, Block, Workflow };

  Decl(Kind kind, SourceRange range) : kind(kind), range(range) {}
  virtual ~Decl() = default;
  Kind getKind() const { return kind; }

  const Kind kind;
  SourceRange range;
  /// The keyword's range (for diagnostics about the declaration itself).
  SourceRange keywordRange;
};

/// `vars:` block (also used for a workflow's own `vars:`).
class VarsDecl : public Decl {
public:
  explicit VarsDecl(SourceRange range) : Decl(Kind::Vars, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Vars; }
  std::vector<Field> vars;
};

struct Preset {
  Name name;
  std::vector<Property> values;
  SourceRange range;
};

class PresetsDecl : public Decl {
public:
  explicit PresetsDecl(SourceRange range) : Decl(Kind::Presets, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Presets; }
  std::vector<Preset> presets;
};

class PromptDecl : public Decl {
public:
  explicit PromptDecl(SourceRange range) : Decl(Kind::Prompt, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Prompt; }
  Name name;
  std::vector<PromptLine> lines;
  /// The body joined with "\n" (no trailing newline).
  std::string body() const;
};

class SchemaDecl : public Decl {
public:
  explicit SchemaDecl(SourceRange range) : Decl(Kind::Schema, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Schema; }
  Name name;
  std::vector<Field> fields;
};

/// agent, judge, router, join, human, tool, compute, verify, service,
/// mcp_server and cursor declarations.
class NodeDecl : public Decl {
public:
  explicit NodeDecl(SourceRange range) : Decl(Kind::Node, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Node; }
  std::string keyword;  ///< "agent", "tool", ...
  Name name;
  std::vector<Property> properties;

  /// The last property with this key (Iterion keeps the last of duplicates).
  const Property *find(std::string_view key) const;
};

/// A top-level block iterc recognises but does not implement
/// (`attachments:`).
class BlockDecl : public Decl {
public:
  explicit BlockDecl(SourceRange range) : Decl(Kind::Block, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Block; }
  std::string keyword;
  std::vector<Property> properties;
};

class WorkflowDecl : public Decl {
public:
  explicit WorkflowDecl(SourceRange range) : Decl(Kind::Workflow, range) {}
  static bool classof(const Decl *d) { return d->getKind() == Kind::Workflow; }

  /// One item of the body, in source order.
  struct Item {
    enum class Kind { Property, Edge, Vars } kind;
    size_t index;  ///< Into properties, edges or vars.
  };

  Name name;
  std::vector<Property> properties;
  std::vector<Edge> edges;
  std::vector<std::unique_ptr<VarsDecl>> vars;
  std::vector<Item> items;

  const Property *find(std::string_view key) const;
};

/// A comment, kept for `iterc fmt`.
struct Comment {
  std::string text;   ///< Including the leading "##".
  uint32_t offset = 0;
  bool ownLine = false;  ///< Nothing but whitespace before it on its line.
};

struct File {
  unsigned fileId = 0;
  std::vector<std::unique_ptr<Decl>> decls;
  std::vector<Comment> comments;
  bool strictEscapes = false;
};

} // namespace iterc::ast

#endif // ITERC_FRONTEND_AST_H
