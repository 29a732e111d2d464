//===- ParseDriver.cpp - From source text to AST --------------------------===//
//
// This file implements parseFile: UTF-8 validation, two-stage parsing (SLL
// with a bail-out strategy first, full LL with error recovery only for items
// that need it), coded syntax diagnostics, and the AstBuilder that turns each
// top-level item's parse tree into AST declarations.
//
// The file is parsed one top-level item at a time and each item's parse tree
// is freed as soon as its AST exists, so memory stays proportional to the
// tokens, not to the parse tree of the whole file.
//
//===----------------------------------------------------------------------===//
#include "Frontend/ParseDriver.h"
#include "Basic/Utf8.h"

#include "IterLexer.h"
#include "IterParser.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <thread>
#include <typeinfo>

using namespace iterc;
using namespace iterc_grammar;

//===----------------------------------------------------------------------===//
// Token helpers
//===----------------------------------------------------------------------===//

static bool isTopLevelKeyword(size_t type) {
  switch (type) {
  case IterLexer::VARS:
  case IterLexer::PRESETS:
  case IterLexer::PROMPT:
  case IterLexer::SCHEMA:
  case IterLexer::AGENT:
  case IterLexer::JUDGE:
  case IterLexer::ROUTER:
  case IterLexer::JOIN:
  case IterLexer::HUMAN:
  case IterLexer::TOOL:
  case IterLexer::COMPUTE:
  case IterLexer::VERIFY:
  case IterLexer::SERVICE:
  case IterLexer::MCP_SERVER:
  case IterLexer::WORKFLOW:
  case IterLexer::ATTACHMENTS:
  case IterLexer::CURSOR:
    return true;
  default:
    return false;
  }
}

static bool isNameToken(size_t type) {
  return type == IterLexer::IDENT || isTopLevelKeyword(type) ||
         type == IterLexer::WHEN || type == IterLexer::NOT ||
         type == IterLexer::AS || type == IterLexer::WITH;
}

/// How a token type is named in "expected ..." lists.
static std::string describeType(const antlr4::dfa::Vocabulary &vocab,
                                size_t type) {
  switch (type) {
  case antlr4::Token::EOF:
    return "end of file";
  case IterLexer::NEWLINE:
    return "end of line";
  case IterLexer::INDENT:
    return "an indented block";
  case IterLexer::DEDENT:
    return "the end of the block";
  case IterLexer::PROMPT_LINE:
    return "prompt text";
  case IterLexer::BLOCK_STRING:
    return "block text";
  case IterLexer::STRING:
    return "a string";
  case IterLexer::RAW_STRING:
    return "a raw string";
  case IterLexer::INT:
    return "an integer";
  case IterLexer::FLOAT:
    return "a number";
  case IterLexer::IDENT:
    return "a name";
  default:
    break;
  }
  std::string literal = vocab.getLiteralName(type);
  if (!literal.empty())
    return literal;
  return vocab.getDisplayName(type);
}

/// How an offending token is named in "found ..." messages.
static std::string describeToken(const antlr4::dfa::Vocabulary &vocab,
                                 antlr4::Token *token) {
  size_t type = token->getType();
  if (type == IterLexer::IDENT)
    return "name '" + token->getText() + "'";
  if (type == IterLexer::STRING || type == IterLexer::RAW_STRING) {
    std::string text = token->getText();
    if (text.size() > 30)
      text = truncateUtf8(text, 27);
    return "string " + text;
  }
  if (type == IterLexer::INT || type == IterLexer::FLOAT)
    return "number " + token->getText();
  return describeType(vocab, type);
}

static std::string describeExpected(const antlr4::dfa::Vocabulary &vocab,
                                    const antlr4::misc::IntervalSet &set) {
  std::vector<std::string> names;
  bool sawName = false;
  for (size_t type : set.toList()) {
    if (isNameToken(type)) {
      if (sawName)
        continue;
      sawName = true;
      names.push_back("a name");
      continue;
    }
    std::string d = describeType(vocab, type);
    if (std::find(names.begin(), names.end(), d) == names.end())
      names.push_back(d);
  }
  if (names.empty())
    return "something else";
  if (names.size() > 5) {
    names.resize(5);
    names.push_back("...");
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

/// Labeled alternatives are distinct final classes: an exact type test is
/// enough, and much cheaper than dynamic_cast on the hot path.
template <typename T, typename U> static T *exactCast(U *ctx) {
  return ctx && typeid(*ctx) == typeid(T) ? static_cast<T *>(ctx) : nullptr;
}

static bool isTerminal(antlr4::tree::ParseTree *node) {
  return typeid(*node) == typeid(antlr4::tree::TerminalNodeImpl) ||
         typeid(*node) == typeid(antlr4::tree::ErrorNodeImpl);
}

/// The first child produced by grammar rule `rule`, or null. Cheaper than
/// the generated accessors, which dynamic_cast every child.
template <typename T>
static T *child(antlr4::ParserRuleContext *ctx, size_t rule) {
  if (!ctx)
    return nullptr;
  for (antlr4::tree::ParseTree *c : ctx->children)
    if (!isTerminal(c) &&
        static_cast<antlr4::RuleContext *>(c)->getRuleIndex() == rule)
      return static_cast<T *>(c);
  return nullptr;
}

/// The children produced by grammar rule `rule`, in order.
template <typename T>
static std::vector<T *> children(antlr4::ParserRuleContext *ctx, size_t rule) {
  std::vector<T *> out;
  if (!ctx)
    return out;
  for (antlr4::tree::ParseTree *c : ctx->children)
    if (!isTerminal(c) &&
        static_cast<antlr4::RuleContext *>(c)->getRuleIndex() == rule)
      out.push_back(static_cast<T *>(c));
  return out;
}

/// The tokens of a type among the direct children.
static std::vector<antlr4::Token *> tokensOf(antlr4::ParserRuleContext *ctx,
                                             size_t type) {
  std::vector<antlr4::Token *> out;
  for (antlr4::tree::ParseTree *c : ctx->children)
    if (isTerminal(c)) {
      antlr4::Token *t =
          static_cast<antlr4::tree::TerminalNode *>(c)->getSymbol();
      if (t->getType() == type)
        out.push_back(t);
    }
  return out;
}

static bool hasToken(antlr4::ParserRuleContext *ctx, size_t type) {
  for (antlr4::tree::ParseTree *c : ctx->children)
    if (isTerminal(c) &&
        static_cast<antlr4::tree::TerminalNode *>(c)->getSymbol()->getType() ==
            type)
      return true;
  return false;
}

namespace {

/// Maps ANTLR token positions to byte offsets of the buffer.
class Positions {
public:
  Positions(const SourceManager &sources, unsigned fileId)
      : sources(sources), fileId(fileId) {}

  uint32_t begin(antlr4::Token *token) const {
    return sources.getOffset(fileId, token->getLine(),
                             token->getCharPositionInLine());
  }
  uint32_t end(antlr4::Token *token) const {
    size_t type = token->getType();
    if (type == IterLexer::INDENT || type == IterLexer::DEDENT ||
        type == IterLexer::BLOCK_STRING || type == antlr4::Token::EOF)
      return begin(token);
    if (type == IterLexer::NEWLINE)
      return begin(token) + 1;
    // Tokens matched by the lexer span [start, stop] of the char stream; in
    // an ASCII buffer that is also their byte length.
    if (type != IterLexer::PROMPT_LINE && sources.isAscii(fileId))
      return begin(token) +
             (token->getStopIndex() - token->getStartIndex() + 1);
    return begin(token) + token->getText().size();
  }
  SourceRange range(antlr4::Token *token) const {
    return SourceRange(begin(token), end(token));
  }
  SourceRange range(antlr4::ParserRuleContext *ctx) const {
    antlr4::Token *start = ctx->getStart();
    antlr4::Token *stop = ctx->getStop();
    uint32_t b = begin(start);
    if (!stop || stop->getTokenIndex() < start->getTokenIndex())
      return SourceRange(b, b);
    // Virtual tokens (NEWLINE, INDENT, DEDENT) sit at the start of the next
    // line: end the range at the last real token instead.
    while (tokens && stop->getTokenIndex() > start->getTokenIndex() &&
           isVirtual(stop->getType()))
      stop = tokens->get(stop->getTokenIndex() - 1);
    uint32_t e = isVirtual(stop->getType()) ? b : end(stop);
    return SourceRange(b, std::max(b, e));
  }
  void setTokens(antlr4::TokenStream *stream) { tokens = stream; }
  /// The text of a token matched by the lexer, read from the UTF-8 source
  /// (no conversion from the char stream's UTF-32).
  std::string text(antlr4::Token *token) const {
    uint32_t b = begin(token);
    return std::string(sources.getText(fileId).substr(b, end(token) - b));
  }
  unsigned getFileId() const { return fileId; }

private:
  static bool isVirtual(size_t type) {
    return type == IterLexer::NEWLINE || type == IterLexer::INDENT ||
           type == IterLexer::DEDENT;
  }

  const SourceManager &sources;
  unsigned fileId;
  antlr4::TokenStream *tokens = nullptr;
};

/// Reports syntax errors with iterc's codes and wording, and recovers at
/// top-level declarations.
class IterErrorStrategy : public antlr4::DefaultErrorStrategy {
public:
  IterErrorStrategy(DiagnosticEngine &diags, const Positions &pos)
      : diags(diags), pos(pos) {}

  unsigned numReported = 0;

protected:
  void
  reportNoViableAlternative(antlr4::Parser *parser,
                            const antlr4::NoViableAltException &e) override {
    report(parser, e.getOffendingToken(), nullptr);
  }

  void reportInputMismatch(antlr4::Parser *parser,
                           const antlr4::InputMismatchException &e) override {
    antlr4::misc::IntervalSet expected = e.getExpectedTokens();
    report(parser, e.getOffendingToken(), &expected);
  }

  void
  reportFailedPredicate(antlr4::Parser *parser,
                        const antlr4::FailedPredicateException &e) override {
    report(parser, e.getOffendingToken(), nullptr);
  }

  void reportUnwantedToken(antlr4::Parser *parser) override {
    if (inErrorRecoveryMode(parser))
      return;
    beginErrorCondition(parser);
    report(parser, parser->getCurrentToken(), nullptr);
  }

  void reportMissingToken(antlr4::Parser *parser) override {
    if (inErrorRecoveryMode(parser))
      return;
    beginErrorCondition(parser);
    antlr4::misc::IntervalSet expected = getExpectedTokens(parser);
    report(parser, parser->getCurrentToken(), &expected);
  }

  /// Never recover by deleting a line break: the next line would be glued
  /// onto this one ("a ->" followed by "b -> c" must not become "a -> b").
  antlr4::Token *singleTokenDeletion(antlr4::Parser *parser) override {
    size_t type = parser->getTokenStream()->LA(1);
    if (type == IterLexer::NEWLINE || type == IterLexer::INDENT ||
        type == IterLexer::DEDENT)
      return nullptr;
    antlr4::ParserRuleContext *ctx = parser->getContext();
    if (ctx && ctx->getRuleIndex() == IterParser::RuleBlockDecl)
      return nullptr;
    return antlr4::DefaultErrorStrategy::singleTokenDeletion(parser);
  }

  void consumeUntil(antlr4::Parser *parser,
                    const antlr4::misc::IntervalSet &set) override {
    antlr4::TokenStream *tokens = parser->getTokenStream();
    size_t type = tokens->LA(1);
    while (type != antlr4::Token::EOF && !set.contains(type)) {
      antlr4::Token *token = tokens->LT(1);
      if (isTopLevelKeyword(type) && token->getCharPositionInLine() == 0)
        break;
      parser->consume();
      type = tokens->LA(1);
    }
  }

private:
  void report(antlr4::Parser *parser, antlr4::Token *offending,
              const antlr4::misc::IntervalSet *expected) {
    // One syntax error per line is enough; the rest are usually echoes.
    if (offending->getLine() == lastLine)
      return;
    lastLine = offending->getLine();
    ++numReported;
    const antlr4::dfa::Vocabulary &vocab = parser->getVocabulary();
    SourceRange range = pos.range(offending);
    if (offending->getType() == IterLexer::INDENT) {
      diags.report(pos.getFileId(), range, diag::err_unexpected_indent);
      return;
    }
    std::string found = describeToken(vocab, offending);
    antlr4::ParserRuleContext *ctx = parser->getContext();
    // A line such as `agnet a:` starts like a generic top-level block; what
    // is wrong is the first word, so say that.
    if (ctx && ctx->getRuleIndex() == IterParser::RuleBlockDecl &&
        ctx->getStart()) {
      offending = ctx->getStart();
      range = pos.range(offending);
      found = describeToken(vocab, offending);
    }
    if (ctx && (ctx->getRuleIndex() == IterParser::RuleItem ||
                ctx->getRuleIndex() == IterParser::RuleDeclaration ||
                ctx->getRuleIndex() == IterParser::RuleBlockDecl)) {
      auto b =
          diags.report(pos.getFileId(), range, diag::err_expected_declaration);
      b << found;
      if (offending->getType() == IterLexer::IDENT) {
        std::string best =
            closestMatch(offending->getText(),
                         {"vars", "presets", "prompt", "schema", "agent",
                          "judge", "router", "join", "human", "tool", "compute",
                          "verify", "service", "mcp_server", "workflow"});
        if (!best.empty())
          b << FixIt(range, best);
      }
      return;
    }
    if (expected && !expected->isEmpty()) {
      diags.report(pos.getFileId(), range, diag::err_expected_token)
          << describeExpected(vocab, *expected) << found;
      return;
    }
    diags.report(pos.getFileId(), range, diag::err_unexpected_token) << found;
  }

  DiagnosticEngine &diags;
  const Positions &pos;
  size_t lastLine = 0;
};

//===----------------------------------------------------------------------===//
// AstBuilder: parse tree -> AST
//===----------------------------------------------------------------------===//

class AstBuilder {
public:
  AstBuilder(const SourceManager &sources, unsigned fileId,
             DiagnosticEngine &diags, bool strictEscapes,
             antlr4::TokenStream *tokens)
      : pos(sources, fileId), fileId(fileId), diags(diags),
        strictEscapes(strictEscapes) {
    pos.setTokens(tokens);
  }

  /// item ::= declaration | NEWLINE
  std::unique_ptr<ast::Decl> buildItem(IterParser::ItemContext *ctx);

private:
  std::unique_ptr<ast::Decl> buildDecl(IterParser::DeclarationContext *ctx);
  std::unique_ptr<ast::VarsDecl> buildVars(IterParser::VarsDeclContext *ctx);
  std::unique_ptr<ast::Decl> buildPresets(IterParser::PresetsDeclContext *ctx);
  std::unique_ptr<ast::Decl> buildPrompt(IterParser::PromptDeclContext *ctx);
  std::unique_ptr<ast::Decl> buildSchema(IterParser::SchemaDeclContext *ctx);
  std::unique_ptr<ast::Decl> buildNode(IterParser::NodeDeclContext *ctx);
  std::unique_ptr<ast::Decl> buildBlock(IterParser::BlockDeclContext *ctx);
  std::unique_ptr<ast::Decl>
  buildWorkflow(IterParser::WorkflowDeclContext *ctx);
  ast::Edge buildEdge(IterParser::EdgeContext *ctx);
  ast::Property buildProperty(IterParser::PropertyContext *ctx);
  ast::Value buildValue(IterParser::ValueContext *ctx);
  ast::Name buildName(IterParser::NameContext *ctx);
  ast::TypeRef buildType(IterParser::TypeRefContext *ctx);
  ast::Field buildField(antlr4::ParserRuleContext *ctx);
  void buildEnum(IterParser::EnumSuffixContext *ctx, ast::Field &field);
  std::vector<ast::MapEntry> buildMap(IterParser::MapContext *ctx);
  ast::Value stringValue(antlr4::Token *token, ast::Value::StringForm form);
  ast::Value numberValue(antlr4::Token *token, bool isFloat);

  Positions pos;
  unsigned fileId;
  DiagnosticEngine &diags;
  bool strictEscapes;
};

} // namespace

std::unique_ptr<ast::Decl> AstBuilder::buildItem(IterParser::ItemContext *ctx) {
  if (!ctx ||
      !child<IterParser::DeclarationContext>(ctx, IterParser::RuleDeclaration))
    return nullptr;
  return buildDecl(
      child<IterParser::DeclarationContext>(ctx, IterParser::RuleDeclaration));
}

std::unique_ptr<ast::Decl>
AstBuilder::buildDecl(IterParser::DeclarationContext *ctx) {
  if (auto *c =
          child<IterParser::VarsDeclContext>(ctx, IterParser::RuleVarsDecl))
    return buildVars(c);
  if (auto *c = child<IterParser::PresetsDeclContext>(
          ctx, IterParser::RulePresetsDecl))
    return buildPresets(c);
  if (auto *c =
          child<IterParser::PromptDeclContext>(ctx, IterParser::RulePromptDecl))
    return buildPrompt(c);
  if (auto *c =
          child<IterParser::SchemaDeclContext>(ctx, IterParser::RuleSchemaDecl))
    return buildSchema(c);
  if (auto *c = child<IterParser::WorkflowDeclContext>(
          ctx, IterParser::RuleWorkflowDecl))
    return buildWorkflow(c);
  if (auto *c =
          child<IterParser::NodeDeclContext>(ctx, IterParser::RuleNodeDecl))
    return buildNode(c);
  if (auto *c =
          child<IterParser::BlockDeclContext>(ctx, IterParser::RuleBlockDecl))
    return buildBlock(c);
  return nullptr;
}

/// name ::= IDENT | keyword
ast::Name AstBuilder::buildName(IterParser::NameContext *ctx) {
  ast::Name name;
  // After error recovery a name may be missing or hold a stray token: only
  // a real name token makes a name.
  if (!ctx || !ctx->getStart() || ctx->exception ||
      !isNameToken(ctx->getStart()->getType()))
    return name;
  name.text = pos.text(ctx->getStart());
  name.range = pos.range(ctx->getStart());
  return name;
}

/// varsDecl ::= 'vars' ':' NEWLINE INDENT varField+ DEDENT
/// varField ::= name ':' type [enum] ['secret'] ['=' value] NEWLINE
std::unique_ptr<ast::VarsDecl>
AstBuilder::buildVars(IterParser::VarsDeclContext *ctx) {
  auto decl = std::make_unique<ast::VarsDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  for (auto *fieldCtx :
       children<IterParser::VarFieldContext>(ctx, IterParser::RuleVarField)) {
    ast::Field field = buildField(fieldCtx);
    if (fieldCtx->modifier)
      field.modifier = buildName(fieldCtx->modifier);
    decl->vars.push_back(std::move(field));
  }
  return decl;
}

/// presetsDecl ::= 'presets' ':' NEWLINE INDENT preset+ DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildPresets(IterParser::PresetsDeclContext *ctx) {
  auto decl = std::make_unique<ast::PresetsDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  for (auto *presetCtx :
       children<IterParser::PresetContext>(ctx, IterParser::RulePreset)) {
    ast::Preset preset;
    preset.name = buildName(
        child<IterParser::NameContext>(presetCtx, IterParser::RuleName));
    preset.range = pos.range(presetCtx);
    for (auto *propCtx : children<IterParser::PropertyContext>(
             presetCtx, IterParser::RuleProperty))
      preset.values.push_back(buildProperty(propCtx));
    decl->presets.push_back(std::move(preset));
  }
  return decl;
}

/// promptDecl ::= 'prompt' name ':' NEWLINE INDENT PROMPT_LINE+ NEWLINE DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildPrompt(IterParser::PromptDeclContext *ctx) {
  auto decl = std::make_unique<ast::PromptDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  decl->name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  for (antlr4::Token *token : tokensOf(ctx, IterLexer::PROMPT_LINE)) {
    ast::PromptLine pl;
    pl.text = token->getText();
    pl.offset = pos.begin(token);
    decl->lines.push_back(std::move(pl));
  }
  if (decl->lines.empty() &&
      child<IterParser::NameContext>(ctx, IterParser::RuleName))
    diags.report(fileId, decl->name.range, diag::err_empty_prompt)
        << decl->name.text;
  return decl;
}

/// schemaDecl ::= 'schema' name ':' NEWLINE INDENT schemaField+ DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildSchema(IterParser::SchemaDeclContext *ctx) {
  auto decl = std::make_unique<ast::SchemaDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  decl->name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  for (auto *fieldCtx : children<IterParser::SchemaFieldContext>(
           ctx, IterParser::RuleSchemaField)) {
    ast::Field field = buildField(fieldCtx);
    decl->fields.push_back(std::move(field));
  }
  return decl;
}

/// field ::= name ':' type [enum] ['=' value]   (schema fields and vars)
ast::Field AstBuilder::buildField(antlr4::ParserRuleContext *ctx) {
  ast::Field field;
  field.name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  field.range = pos.range(ctx);
  if (auto *type =
          child<IterParser::TypeRefContext>(ctx, IterParser::RuleTypeRef))
    field.type = buildType(type);
  if (auto *suffix = child<IterParser::EnumSuffixContext>(
          ctx, IterParser::RuleEnumSuffix))
    buildEnum(suffix, field);
  if (auto *value = child<IterParser::ValueContext>(ctx, IterParser::RuleValue))
    field.defaultValue = buildValue(value);
  return field;
}

/// type ::= name ['[]']
ast::TypeRef AstBuilder::buildType(IterParser::TypeRefContext *ctx) {
  ast::TypeRef type;
  type.name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  type.list = hasToken(ctx, IterLexer::LIST_SUFFIX);
  type.range = pos.range(ctx);
  return type;
}

/// enum ::= '[' 'enum' ':' value (',' value)* ']'
void AstBuilder::buildEnum(IterParser::EnumSuffixContext *ctx,
                           ast::Field &field) {
  field.hasEnum = true;
  ast::Name keyword =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  if (keyword.text != "enum")
    diags.report(fileId, keyword.range, diag::err_expected_token)
        << "'enum'"
        << "name '" + keyword.text + "'" << FixIt(keyword.range, "enum");
  for (auto *valueCtx :
       children<IterParser::ValueContext>(ctx, IterParser::RuleValue))
    field.enumValues.push_back(buildValue(valueCtx));
}

/// nodeDecl ::= nodeKind name ':' NEWLINE INDENT property* DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildNode(IterParser::NodeDeclContext *ctx) {
  auto decl = std::make_unique<ast::NodeDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  decl->keyword = ctx->getStart()->getText();
  decl->name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  for (auto *propCtx :
       children<IterParser::PropertyContext>(ctx, IterParser::RuleProperty))
    decl->properties.push_back(buildProperty(propCtx));
  return decl;
}

/// blockDecl ::= 'attachments' ':' NEWLINE INDENT property* DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildBlock(IterParser::BlockDeclContext *ctx) {
  auto decl = std::make_unique<ast::BlockDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  decl->keyword = ctx->getStart()->getText();
  for (auto *propCtx :
       children<IterParser::PropertyContext>(ctx, IterParser::RuleProperty))
    decl->properties.push_back(buildProperty(propCtx));
  return decl;
}

/// workflowDecl ::= 'workflow' name ':' NEWLINE INDENT (property | edge)+
/// DEDENT
std::unique_ptr<ast::Decl>
AstBuilder::buildWorkflow(IterParser::WorkflowDeclContext *ctx) {
  auto decl = std::make_unique<ast::WorkflowDecl>(pos.range(ctx));
  decl->keywordRange = pos.range(ctx->getStart());
  decl->name =
      buildName(child<IterParser::NameContext>(ctx, IterParser::RuleName));
  for (auto *itemCtx : children<IterParser::WorkflowItemContext>(
           ctx, IterParser::RuleWorkflowItem)) {
    using Kind = ast::WorkflowDecl::Item::Kind;
    if (auto *varsCtx = child<IterParser::VarsDeclContext>(
            itemCtx, IterParser::RuleVarsDecl)) {
      decl->items.push_back({Kind::Vars, decl->vars.size()});
      decl->vars.push_back(buildVars(varsCtx));
    } else if (auto *edgeCtx = child<IterParser::EdgeContext>(
                   itemCtx, IterParser::RuleEdge)) {
      decl->items.push_back({Kind::Edge, decl->edges.size()});
      decl->edges.push_back(buildEdge(edgeCtx));
    } else if (auto *propCtx = child<IterParser::PropertyContext>(
                   itemCtx, IterParser::RuleProperty)) {
      decl->items.push_back({Kind::Property, decl->properties.size()});
      decl->properties.push_back(buildProperty(propCtx));
    }
  }
  return decl;
}

/// edge ::= name '->' name clause* NEWLINE
/// clause ::= 'when' ['not'] (name | string) | 'as' name '(' cap ')'
///          | 'with' map
ast::Edge AstBuilder::buildEdge(IterParser::EdgeContext *ctx) {
  ast::Edge edge;
  edge.src = buildName(ctx->src);
  edge.dst = buildName(ctx->dst);
  edge.range = pos.range(ctx);
  auto duplicate = [&](antlr4::ParserRuleContext *clause, const char *what) {
    diags.report(fileId, pos.range(clause), diag::err_duplicate_clause) << what;
  };
  for (auto *clause : children<IterParser::EdgeClauseContext>(
           ctx, IterParser::RuleEdgeClause)) {
    if (auto *c = exactCast<IterParser::WhenFieldContext>(clause)) {
      if (edge.when) {
        duplicate(c, "when");
        continue;
      }
      ast::WhenClause when;
      when.negated = hasToken(c, IterLexer::NOT);
      when.field = buildName(c->cond);
      when.range = pos.range(c);
      edge.when = std::move(when);
    } else if (auto *c = exactCast<IterParser::WhenExprContext>(clause)) {
      if (edge.when) {
        duplicate(c, "when");
        continue;
      }
      ast::WhenClause when;
      when.isExpr = true;
      when.negated = hasToken(c, IterLexer::NOT);
      when.expr = stringValue(c->expr, c->expr->getType() == IterLexer::STRING
                                           ? ast::Value::StringForm::Quoted
                                           : ast::Value::StringForm::Raw);
      when.range = pos.range(c);
      if (when.negated)
        diags.report(fileId, pos.range(c->NOT()->getSymbol()),
                     diag::err_when_not_expr)
            << when.expr.text;
      edge.when = std::move(when);
    } else if (auto *c = exactCast<IterParser::AsLoopContext>(clause)) {
      if (edge.loop) {
        duplicate(c, "as");
        continue;
      }
      ast::LoopClause loop;
      loop.name = buildName(c->loop);
      loop.range = pos.range(c);
      if (c->cap) {
        if (c->cap->getType() == IterLexer::INT)
          loop.cap = numberValue(c->cap, false);
        else
          loop.cap = stringValue(c->cap, c->cap->getType() == IterLexer::STRING
                                             ? ast::Value::StringForm::Quoted
                                             : ast::Value::StringForm::Raw);
      }
      edge.loop = std::move(loop);
    } else if (auto *c = exactCast<IterParser::WithMapContext>(clause)) {
      if (edge.with) {
        duplicate(c, "with");
        continue;
      }
      ast::WithClause with;
      with.range = pos.range(c);
      if (child<IterParser::MapContext>(c, IterParser::RuleMap))
        with.entries =
            buildMap(child<IterParser::MapContext>(c, IterParser::RuleMap));
      edge.with = std::move(with);
    }
  }
  return edge;
}

/// property ::= name ':' value NEWLINE | name ':' NEWLINE INDENT property+
/// DEDENT
ast::Property AstBuilder::buildProperty(IterParser::PropertyContext *ctx) {
  ast::Property prop;
  prop.range = pos.range(ctx);
  if (auto *c = exactCast<IterParser::ValuePropertyContext>(ctx)) {
    prop.key = buildName(c->key);
    if (child<IterParser::ValueContext>(c, IterParser::RuleValue))
      prop.value =
          buildValue(child<IterParser::ValueContext>(c, IterParser::RuleValue));
    return prop;
  }
  if (auto *c = exactCast<IterParser::BlockPropertyContext>(ctx)) {
    prop.key = buildName(c->key);
    prop.isBlock = true;
    for (auto *child :
         children<IterParser::PropertyContext>(c, IterParser::RuleProperty))
      prop.children.push_back(buildProperty(child));
  }
  return prop;
}

/// map ::= '{' (name ':' value (','? name ':' value)* ','?)? '}'
std::vector<ast::MapEntry> AstBuilder::buildMap(IterParser::MapContext *ctx) {
  std::vector<ast::MapEntry> entries;
  for (auto *entryCtx :
       children<IterParser::MapEntryContext>(ctx, IterParser::RuleMapEntry)) {
    ast::MapEntry entry;
    if (entryCtx->quotedKey) {
      ast::Value key =
          stringValue(entryCtx->quotedKey, ast::Value::StringForm::Quoted);
      entry.key.text = key.text;
      entry.key.range = key.range;
      entry.quotedKey = true;
    } else {
      entry.key = buildName(entryCtx->key);
    }
    entry.value = std::make_unique<ast::Value>();
    if (child<IterParser::ValueContext>(entryCtx, IterParser::RuleValue))
      *entry.value = buildValue(
          child<IterParser::ValueContext>(entryCtx, IterParser::RuleValue));
    entries.push_back(std::move(entry));
  }
  return entries;
}

ast::Value AstBuilder::stringValue(antlr4::Token *token,
                                   ast::Value::StringForm form) {
  ast::Value v;
  v.kind = ast::Value::Kind::String;
  v.form = form;
  v.range = pos.range(token);
  if (form == ast::Value::StringForm::Block) {
    std::string raw = token->getText();
    v.text = raw;
    v.contentOffset = v.range.begin;
    v.offsetsExact = false;
    return v;
  }
  std::string raw = pos.text(token);
  // Strip the delimiters (an unterminated string has no closing one).
  char delim = form == ast::Value::StringForm::Raw ? '`' : '"';
  std::string body = raw.size() >= 1 ? raw.substr(1) : std::string();
  if (!body.empty() && body.back() == delim)
    body.pop_back();
  v.contentOffset = v.range.begin + 1;
  if (form == ast::Value::StringForm::Raw || !strictEscapes) {
    v.text = std::move(body);
    return v;
  }
  // Strict escapes: \" \\ \n \t \r \0.
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 >= body.size()) {
      v.text.push_back(body[i]);
      continue;
    }
    v.offsetsExact = false;
    char c = body[++i];
    switch (c) {
    case '"':
    case '\\':
      v.text.push_back(c);
      break;
    case 'n':
      v.text.push_back('\n');
      break;
    case 't':
      v.text.push_back('\t');
      break;
    case 'r':
      v.text.push_back('\r');
      break;
    case '0':
      v.text.push_back('\0');
      break;
    default: {
      uint32_t at = v.contentOffset + i - 1;
      diags.report(fileId, SourceRange(at, at + 2), diag::err_bad_escape)
          << std::string(1, c);
      v.text.push_back('\\');
      v.text.push_back(c);
    }
    }
  }
  return v;
}

ast::Value AstBuilder::numberValue(antlr4::Token *token, bool isFloat) {
  ast::Value v;
  v.range = pos.range(token);
  v.text = pos.text(token);
  if (isFloat) {
    v.kind = ast::Value::Kind::Float;
    v.floatValue = std::strtod(v.text.c_str(), nullptr);
    return v;
  }
  v.kind = ast::Value::Kind::Int;
  const char *first = v.text.data();
  auto result = std::from_chars(first, first + v.text.size(), v.intValue);
  if (result.ec != std::errc())
    diags.report(fileId, v.range, diag::err_invalid_value)
        << v.text << "integer"
        << "an integer that fits in 64 bits";
  return v;
}

/// value ::= STRING | RAW_STRING | '|' BLOCK | INT | FLOAT | bool | ref
///         | list | map
ast::Value AstBuilder::buildValue(IterParser::ValueContext *ctx) {
  using Form = ast::Value::StringForm;
  if (auto *c = exactCast<IterParser::StringValueContext>(ctx))
    return stringValue(c->getStart(), Form::Quoted);
  if (auto *c = exactCast<IterParser::RawStringValueContext>(ctx))
    return stringValue(c->getStart(), Form::Raw);
  if (auto *c = exactCast<IterParser::BlockStringValueContext>(ctx)) {
    std::vector<antlr4::Token *> block = tokensOf(c, IterLexer::BLOCK_STRING);
    if (!block.empty())
      return stringValue(block[0], Form::Block);
    ast::Value v;
    v.form = Form::Block;
    v.range = pos.range(ctx);
    return v;
  }
  if (auto *c = exactCast<IterParser::IntValueContext>(ctx))
    return numberValue(c->getStart(), false);
  if (auto *c = exactCast<IterParser::FloatValueContext>(ctx))
    return numberValue(c->getStart(), true);
  ast::Value v;
  v.range = pos.range(ctx);
  if (auto *c = exactCast<IterParser::BoolValueContext>(ctx)) {
    v.kind = ast::Value::Kind::Bool;
    v.boolValue = hasToken(c, IterLexer::TRUE);
    v.text = v.boolValue ? "true" : "false";
    return v;
  }
  if (auto *c = exactCast<IterParser::RefValueContext>(ctx)) {
    v.kind = ast::Value::Kind::Ref;
    auto *ref = child<IterParser::RefContext>(c, IterParser::RuleRef);
    for (auto *child : ref->children) {
      auto *terminal = dynamic_cast<antlr4::tree::TerminalNode *>(child);
      if (terminal && terminal->getSymbol()->getType() == IterLexer::DOT)
        continue;
      ast::Name part;
      if (auto *nameCtx = exactCast<IterParser::NameContext>(child)) {
        part = buildName(nameCtx);
      } else if (terminal) {
        part.text = terminal->getText();
        part.range = pos.range(terminal->getSymbol());
      } else {
        continue;
      }
      if (!v.text.empty())
        v.text += ".";
      v.text += part.text;
      v.refParts.push_back(std::move(part));
    }
    return v;
  }
  if (auto *c = exactCast<IterParser::ListValueContext>(ctx)) {
    v.kind = ast::Value::Kind::List;
    for (auto *item : children<IterParser::ValueContext>(
             child<IterParser::ListContext>(c, IterParser::RuleList),
             IterParser::RuleValue))
      v.items.push_back(buildValue(item));
    return v;
  }
  if (auto *c = exactCast<IterParser::MapValueContext>(ctx)) {
    v.kind = ast::Value::Kind::Map;
    v.entries = buildMap(child<IterParser::MapContext>(c, IterParser::RuleMap));
    return v;
  }
  return v;
}

//===----------------------------------------------------------------------===//
// parseFile
//===----------------------------------------------------------------------===//

static void collectComments(const SourceManager &sources, unsigned fileId,
                            antlr4::CommonTokenStream &tokens,
                            const Positions &pos, ast::File &file) {
  for (antlr4::Token *token : tokens.getTokens()) {
    size_t type = token->getType();
    if (type != IterLexer::COMMENT && type != IterLexer::BAD_COMMENT)
      continue;
    ast::Comment comment;
    comment.text = token->getText();
    if (type == IterLexer::BAD_COMMENT)
      comment.text = "#" + comment.text;
    comment.offset = pos.begin(token);
    std::string_view line = sources.getLineText(fileId, token->getLine());
    std::string_view before = line.substr(
        0, std::min<size_t>(line.size(),
                            comment.offset - sources.getLineStart(
                                                 fileId, token->getLine())));
    comment.ownLine =
        before.find_first_not_of(" \t\f") == std::string_view::npos;
    file.comments.push_back(std::move(comment));
  }
}

namespace {

/// An ANTLR character stream over UTF-8 text that is already known to be
/// valid, decoded without ANTLR's (slow) locale-based converter.
class Utf8InputStream : public antlr4::ANTLRInputStream {
public:
  explicit Utf8InputStream(std::string_view text) {
    _data.reserve(text.size());
    size_t i = 0, n = text.size();
    while (i < n) {
      unsigned char c = text[i];
      if (c < 0x80) {
        _data.push_back(c);
        ++i;
        continue;
      }
      size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      char32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len && i + k < n; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
      _data.push_back(cp);
      i += len;
    }
    p = 0;
  }
};

/// One top-level slice of the file, parsed on its own.
struct Chunk {
  unsigned firstLine = 1;
  uint32_t begin = 0, end = 0;
  std::vector<std::unique_ptr<ast::Decl>> decls;
  std::vector<ast::Comment> comments;
  std::vector<Diagnostic> diags;
  bool rawStringCrossesEnd = false;
};

/// Splits the file before every line that starts, at column 0, with a
/// declaration keyword. Such a line can only be inside a construct when a
/// backtick string spans it; that case is detected after lexing (the chunk
/// ends in an unterminated raw string) and the file is then parsed whole.
std::vector<Chunk> splitChunks(const SourceManager &sources, unsigned fileId) {
  static const char *keywords[] = {
      "vars",    "presets",    "prompt",   "schema",      "agent",   "judge",
      "router",  "join",       "human",    "tool",        "compute", "verify",
      "service", "mcp_server", "workflow", "attachments", "cursor"};
  std::string_view text = sources.getText(fileId);
  std::vector<Chunk> chunks(1);
  unsigned lines = sources.getNumLines(fileId);
  // Small files are not worth splitting.
  if (text.size() < (64u << 10))
    lines = 0;
  for (unsigned line = 2; line <= lines; ++line) {
    uint32_t start = sources.getLineStart(fileId, line);
    std::string_view rest = text.substr(start, 16);
    bool boundary = false;
    for (const char *kw : keywords) {
      size_t n = std::char_traits<char>::length(kw);
      if (rest.size() > n && rest.compare(0, n, kw) == 0 &&
          (rest[n] == ' ' || rest[n] == ':')) {
        boundary = true;
        break;
      }
    }
    // Keep chunks reasonably large: parsing has a per-chunk cost.
    if (!boundary || start - chunks.back().begin < (32u << 10))
      continue;
    chunks.back().end = start;
    Chunk next;
    next.firstLine = line;
    next.begin = start;
    chunks.push_back(std::move(next));
  }
  chunks.back().end = text.size();
  return chunks;
}

bool leadingStrictEscapes(std::string_view text) {
  size_t pos = 0;
  for (unsigned line = 0; line < 32 && pos < text.size(); ++line) {
    size_t eol = text.find('\n', pos);
    std::string_view l =
        text.substr(pos, eol == std::string_view::npos ? std::string_view::npos
                                                       : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    size_t first = l.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
      continue;
    if (l.compare(first, 2, "##") != 0)
      break;
    std::string squeezed;
    for (char c : l.substr(first + 2))
      if (c != ' ' && c != '\t' && c != '\r')
        squeezed.push_back(c);
    if (squeezed == "strict-escape:on" || squeezed == "strict-escape=on")
      return true;
  }
  return false;
}

void parseChunk(const SourceManager &sources, unsigned fileId,
                bool strictEscapes, Chunk &chunk) {
  DiagnosticEngine diags(sources);
  Positions pos(sources, fileId);
  std::string_view text =
      sources.getText(fileId).substr(chunk.begin, chunk.end - chunk.begin);
  try {
    Utf8InputStream input(text);
    IterLexer lexer(&input);
    lexer.removeErrorListeners();
    lexer.setLine(chunk.firstLine);
    antlr4::CommonTokenStream tokens(&lexer);
    pos.setTokens(&tokens);
    IterParser parser(&tokens);
    parser.removeErrorListeners();
    auto bail = std::make_shared<antlr4::BailErrorStrategy>();
    auto recovering = std::make_shared<IterErrorStrategy>(diags, pos);
    auto *interp = parser.getInterpreter<antlr4::atn::ParserATNSimulator>();
    AstBuilder builder(sources, fileId, diags, strictEscapes, &tokens);

    while (tokens.LA(1) != antlr4::Token::EOF) {
      size_t start = tokens.index();
      IterParser::ItemContext *item = nullptr;
      unsigned errorsBefore = recovering->numReported;
      parser.setErrorHandler(bail);
      interp->setPredictionMode(antlr4::atn::PredictionMode::SLL);
      try {
        item = parser.item();
      } catch (antlr4::ParseCancellationException &) {
        tokens.seek(start);
        parser.setErrorHandler(recovering);
        interp->setPredictionMode(antlr4::atn::PredictionMode::LL);
        unsigned before = recovering->numReported;
        item = parser.item();
        if (recovering->numReported > before) {
          // Skip to the next declaration at the start of a line.
          while (tokens.LA(1) != antlr4::Token::EOF) {
            antlr4::Token *t = tokens.LT(1);
            if (isTopLevelKeyword(t->getType()) &&
                t->getCharPositionInLine() == 0)
              break;
            tokens.consume();
          }
        }
      }
      if (item) {
        std::unique_ptr<ast::Decl> decl = builder.buildItem(item);
        // A misspelt declaration parsed as a generic block has been
        // reported as such; do not report it a second time.
        bool dropped = decl && decl->getKind() == ast::Decl::Kind::Block &&
                       errorsBefore != recovering->numReported;
        if (decl && !dropped)
          chunk.decls.push_back(std::move(decl));
      }
      parser.getTreeTracker().reset();
      if (tokens.index() == start)
        tokens.consume();
    }
    for (const IterLexerBase::Problem &p : lexer.getProblems()) {
      if (p.id == diag::err_unterminated_raw)
        chunk.rawStringCrossesEnd = true;
      uint32_t begin = sources.getOffset(fileId, p.line, p.column);
      uint32_t end = sources.getOffset(fileId, p.line, p.column + p.length);
      auto builderDiag = diags.report(fileId, SourceRange(begin, end), p.id);
      if (!p.arg.empty())
        builderDiag << p.arg;
      if (p.id == diag::err_single_hash)
        builderDiag << FixIt(SourceRange(begin, begin + 1), "##");
    }
    ast::File scratch;
    collectComments(sources, fileId, tokens, pos, scratch);
    chunk.comments = std::move(scratch.comments);
  } catch (std::exception &e) {
    diags.report(fileId, SourceRange(chunk.begin, chunk.begin),
                 diag::err_unexpected_token)
        << std::string("input (the parser stopped: ") + e.what() + ")";
  }
  chunk.diags = diags.getDiagnostics();
}

} // namespace

std::unique_ptr<ast::File> iterc::parseFile(const SourceManager &sources,
                                            unsigned fileId,
                                            DiagnosticEngine &diags) {
  std::string_view text = sources.getText(fileId);
  if (text.size() > MaxSourceSize) {
    diags.report(fileId, SourceRange(0, 0), diag::err_file_too_large)
        << text.size() << MaxSourceSize;
    return nullptr;
  }
  size_t bad = findInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c = text[bad];
    std::string byte{hex[c >> 4], hex[c & 15]};
    diags.report(fileId, SourceRange(bad, bad + 1), diag::err_not_utf8) << byte;
    return nullptr;
  }

  auto file = std::make_unique<ast::File>();
  file->fileId = fileId;
  file->strictEscapes = leadingStrictEscapes(text);

  std::vector<Chunk> chunks = splitChunks(sources, fileId);
  auto parseAll = [&](std::vector<Chunk> &list) {
    // Largest chunks first (the workflow block is usually the largest), so
    // that no thread is left with a big chunk at the end.
    std::vector<size_t> order(list.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return list[a].end - list[a].begin > list[b].end - list[b].begin;
    });
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < list.size(); i = next++)
        parseChunk(sources, fileId, file->strictEscapes, list[order[i]]);
    };
    unsigned threads = std::min<size_t>(
        list.size(), std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
      pool.emplace_back(worker);
    worker();
    for (std::thread &t : pool)
      t.join();
  };
  parseAll(chunks);
  bool crossed = false;
  for (size_t i = 0; i + 1 < chunks.size(); ++i)
    crossed |= chunks[i].rawStringCrossesEnd;
  if (crossed) {
    // A backtick string spans a chunk boundary: parse the file whole.
    std::vector<Chunk> whole(1);
    whole[0].end = text.size();
    chunks.swap(whole);
    parseAll(chunks);
  }
  for (Chunk &chunk : chunks) {
    for (auto &decl : chunk.decls)
      file->decls.push_back(std::move(decl));
    for (ast::Comment &c : chunk.comments)
      file->comments.push_back(std::move(c));
    for (Diagnostic &d : chunk.diags)
      diags.add(std::move(d));
  }
  return file;
}
