//===- FastLexTest.cpp - The lexer's fast path matches the grammar --------===//
//
// IterLexerBase lexes identifiers, keywords, quoted strings and punctuation
// without the ATN simulator. These tests lex many inputs both ways and
// require identical token streams and identical lexical problems.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "IterLexer.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using namespace iterc;
namespace fs = std::filesystem;

namespace {

std::string lexAll(const std::string &text, bool fast) {
  antlr4::ANTLRInputStream input(text);
  iterc_grammar::IterLexer lexer(&input);
  lexer.removeErrorListeners();
  lexer.setFastPath(fast);
  std::ostringstream out;
  for (;;) {
    std::unique_ptr<antlr4::Token> t = lexer.nextToken();
    out << t->getType() << ' ' << t->getLine() << ':'
        << t->getCharPositionInLine() << ' ' << t->getChannel() << " ["
        << t->getText() << "]\n";
    if (t->getType() == antlr4::Token::EOF)
      break;
  }
  for (const auto &p : lexer.getProblems())
    out << "problem " << p.id << ' ' << p.line << ':' << p.column << ' '
        << p.length << ' ' << p.arg << '\n';
  return out.str();
}

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  std::vector<fs::path> dirs = {
      fs::path(ITERC_SOURCE_DIR) / "examples",
      fs::path(ITERC_SOURCE_DIR) / "tests" / "golden",
      fs::path(ITERC_SOURCE_DIR) / ".." / "shared" / "conformance"};
  for (const fs::path &dir : dirs) {
    if (!fs::exists(dir))
      continue;
    for (const auto &entry : fs::recursive_directory_iterator(dir))
      if (entry.path().extension() == ".iter")
        texts.push_back(test::readRepoFile(
            fs::relative(entry.path(), ITERC_SOURCE_DIR).string()));
  }
  return texts;
}

} // namespace

TEST_CASE("fast lexing matches the ATN on every corpus file", "[lexer]") {
  std::vector<std::string> texts = corpus();
  REQUIRE(texts.size() >= 5);
  for (const std::string &text : texts)
    CHECK(lexAll(text, true) == lexAll(text, false));
}

TEST_CASE("fast lexing matches the ATN on edge cases", "[lexer]") {
  const char *cases[] = {
      "agent a:\n  model: \"m\\\"x\"\n",
      "agent é_node:\n  model: \"m\"\n",
      "agentx:\n",
      "tool t:\n  command: \"a \\\\\"\n",
      "tool t:\n  command: \"unterminated\n",
      "x -> y when not z as l(3) with { a: \"b\", c: `d` }\n",
      "x->y\n",
      "x -1 -> y\n",
      "schema s:\n  a: string[]\n  b: string [ ]\n",
      "v: [a,b,]\n  # bad\n  ## good\n",
      "a\t:\t\"x\"\f\n",
      "p: |\n  line\n",
      "k: \"\\\n\"\n",
      "\"",
      "a_b9 _x __ x_ é",
      "true false truex when_ with",
      "$ % ^ &",
  };
  for (const char *text : cases) {
    INFO(text);
    CHECK(lexAll(text, true) == lexAll(text, false));
  }
}
