//===- Printer.h - The one printer every generated file goes through -*- C++
//-*-===//
//
// This file declares Printer, a small text printer for code generators:
//
//   p.emit({{"name", node.name}, {"index", std::to_string(i)}}, R"cc(
//     // Node $name$.
//     constexpr int k$name$ = $index$;
//   )cc");
//
// - Formats are string literals only (a template parameter of array type),
//   so user text can never be interpreted as a format; it enters only as a
//   variable's value.
// - `$var$` is replaced by the variable's value; `$$` is a dollar sign. A
//   variable the format names but the call does not give is a bug in iterc:
//   the printer aborts with the variable's name.
// - The raw string's common indentation and its first and last line breaks
//   are removed; the printer adds its own indentation, managed by RAII
//   (Printer::Indent, NamespaceScope). A multi-line value is indented like
//   the line it is substituted into.
// - Lines starting with `//~` are comments for the generator's reader and
//   are dropped.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_PRINTER_H
#define ITERC_CODEGEN_PRINTER_H

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iterc::codegen {

class Printer {
public:
  using Vars = std::vector<std::pair<std::string_view, std::string>>;

  explicit Printer(std::string &out) : out(out) {}

  template <size_t N> void emit(const Vars &vars, const char (&format)[N]) {
    emitImpl(vars, std::string_view(format, N - 1));
  }
  template <size_t N> void emit(const char (&format)[N]) {
    emitImpl({}, std::string_view(format, N - 1));
  }

  /// Indents everything printed while it lives by two more spaces.
  class Indent {
  public:
    explicit Indent(Printer &p) : p(p) { p.indent += 2; }
    ~Indent() { p.indent -= 2; }
    Indent(const Indent &) = delete;
    Indent &operator=(const Indent &) = delete;

  private:
    Printer &p;
  };

private:
  friend class NamespaceScope;
  void emitImpl(const Vars &vars, std::string_view format);
  void writeLine(std::string_view line);

  std::string &out;
  size_t indent = 0;
};

/// Prints `namespace name {` now and `} // namespace name` when it ends.
class NamespaceScope {
public:
  NamespaceScope(Printer &p, std::string name);
  ~NamespaceScope();
  NamespaceScope(const NamespaceScope &) = delete;
  NamespaceScope &operator=(const NamespaceScope &) = delete;

private:
  Printer &p;
  std::string name;
};

/// A C++ string literal for arbitrary bytes: printable ASCII and UTF-8 as
/// they are, everything else escaped; long text split into adjacent literals
/// after each line break so that diffs of generated code stay readable.
/// `indent` is the column continuation lines start at.
std::string cppString(std::string_view text, size_t indent = 4);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_PRINTER_H
