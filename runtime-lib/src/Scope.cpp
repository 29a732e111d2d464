//===- Scope.cpp - What templates and expressions can read ----------------===//
//
// This file implements JsonScope, template rendering (text and typed
// values; shell commands are in ShellCommand.cpp) and the operators of
// compiled expressions. The expression semantics follow Iterion's: numbers compare numerically,
// strings lexicographically, and nil, false, "", "false", "no", "0", zero
// and empty collections are false.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Scope.h"

#include <cmath>
#include <sys/stat.h>

using namespace iterc::rt;

std::optional<Json> iterc::rt::drill(const Json &value,
                                     const std::vector<std::string> &path,
                                     size_t from) {
  const Json *cur = &value;
  for (size_t i = from; i < path.size(); ++i) {
    const std::string &seg = path[i];
    if (cur->is_object()) {
      auto it = cur->find(seg);
      if (it == cur->end())
        return std::nullopt;
      cur = &*it;
      continue;
    }
    if (cur->is_array() && !seg.empty() &&
        seg.find_first_not_of("0123456789") == std::string::npos &&
        seg.size() < 10) {
      size_t index = std::stoul(seg);
      if (index >= cur->size())
        return std::nullopt;
      cur = &(*cur)[index];
      continue;
    }
    return std::nullopt;
  }
  return *cur;
}

std::optional<Json> JsonScope::get(RefNs ns,
                                   const std::vector<std::string> &path) const {
  switch (ns) {
  case RefNs::Vars:
    return drill(vars, path, 0);
  case RefNs::Input:
    return drill(input, path, 0);
  case RefNs::Outputs:
    if (path.empty())
      return std::nullopt;
    if (path.size() >= 2 && path[1] == "history") {
      auto it = history.find(path[0]);
      Json all = it == history.end() ? Json::array() : *it;
      return drill(all, path, 2);
    }
    return drill(outputs, path, 0);
  case RefNs::Artifacts:
    return drill(artifacts, path, 0);
  case RefNs::Loop:
    return drill(loops, path, 0);
  case RefNs::Run:
    return drill(run, path, 0);
  }
  return std::nullopt;
}

static std::string textOf(const Json &v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return std::string();
  return v.dump();
}

std::string iterc::rt::renderText(const Template &t, const Scope &scope) {
  std::string out;
  for (const TemplatePart &part : t.parts) {
    if (!part.ref) {
      out += part.literal;
      continue;
    }
    if (std::optional<Json> v = scope.get(part.ref->ns, part.ref->path))
      out += textOf(*v);
  }
  return out;
}

Json iterc::rt::renderValue(const Template &t, const Scope &scope) {
  if (t.isSingleRef()) {
    std::optional<Json> v = scope.get(t.parts[0].ref->ns, t.parts[0].ref->path);
    return v ? *v : Json();
  }
  return renderText(t, scope);
}

//===----------------------------------------------------------------------===//
// Expression operators
//===----------------------------------------------------------------------===//

bool expr::truthy(const Json &v) {
  switch (v.type()) {
  case Json::value_t::null:
    return false;
  case Json::value_t::boolean:
    return v.get<bool>();
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
  case Json::value_t::number_float:
    return v.get<double>() != 0;
  case Json::value_t::string: {
    const std::string &s = v.get_ref<const std::string &>();
    return !(s.empty() || s == "false" || s == "no" || s == "0");
  }
  case Json::value_t::array:
  case Json::value_t::object:
    return !v.empty();
  default:
    return false;
  }
}

Json expr::path(const Scope &scope, RefNs ns,
                const std::vector<std::string> &p) {
  std::optional<Json> v = scope.get(ns, p);
  return v ? *v : Json();
}

Json expr::notOp(const Json &a) { return !truthy(a); }

Json expr::neg(const Json &a) {
  if (a.is_number_integer())
    return -a.get<int64_t>();
  if (a.is_number())
    return -a.get<double>();
  return Json();
}

Json expr::andOp(const Json &a, const Json &b) {
  return truthy(a) && truthy(b);
}
Json expr::orOp(const Json &a, const Json &b) { return truthy(a) || truthy(b); }

static bool bothNumbers(const Json &a, const Json &b) {
  return a.is_number() && b.is_number();
}

Json expr::eq(const Json &a, const Json &b) {
  if (bothNumbers(a, b))
    return a.get<double>() == b.get<double>();
  return a == b;
}
Json expr::ne(const Json &a, const Json &b) { return !eq(a, b).get<bool>(); }

template <typename Cmp>
static Json compare(const Json &a, const Json &b, Cmp cmp) {
  if (bothNumbers(a, b))
    return cmp(a.get<double>(), b.get<double>());
  if (a.is_string() && b.is_string())
    return cmp(a.get_ref<const std::string &>(),
               b.get_ref<const std::string &>());
  return false;
}

Json expr::lt(const Json &a, const Json &b) {
  return compare(a, b, [](const auto &x, const auto &y) { return x < y; });
}
Json expr::le(const Json &a, const Json &b) {
  return compare(a, b, [](const auto &x, const auto &y) { return x <= y; });
}
Json expr::gt(const Json &a, const Json &b) {
  return compare(a, b, [](const auto &x, const auto &y) { return x > y; });
}
Json expr::ge(const Json &a, const Json &b) {
  return compare(a, b, [](const auto &x, const auto &y) { return x >= y; });
}

template <typename IntOp, typename FloatOp>
static Json arith(const Json &a, const Json &b, IntOp intOp, FloatOp floatOp) {
  if (!bothNumbers(a, b))
    return Json();
  if (a.is_number_integer() && b.is_number_integer())
    return intOp(a.get<int64_t>(), b.get<int64_t>());
  return floatOp(a.get<double>(), b.get<double>());
}

Json expr::add(const Json &a, const Json &b) {
  if (a.is_array() && b.is_array()) {
    Json out = a;
    for (const Json &x : b)
      out.push_back(x);
    return out;
  }
  if (a.is_string() || b.is_string())
    return textOf(a) + textOf(b);
  return arith(
      a, b, [](int64_t x, int64_t y) { return Json(x + y); },
      [](double x, double y) { return Json(x + y); });
}
Json expr::sub(const Json &a, const Json &b) {
  return arith(
      a, b, [](int64_t x, int64_t y) { return Json(x - y); },
      [](double x, double y) { return Json(x - y); });
}
Json expr::mul(const Json &a, const Json &b) {
  return arith(
      a, b, [](int64_t x, int64_t y) { return Json(x * y); },
      [](double x, double y) { return Json(x * y); });
}
Json expr::div(const Json &a, const Json &b) {
  return arith(
      a, b,
      [](int64_t x, int64_t y) { return y == 0 ? Json() : Json(x / y); },
      [](double x, double y) { return y == 0 ? Json() : Json(x / y); });
}
Json expr::mod(const Json &a, const Json &b) {
  return arith(
      a, b,
      [](int64_t x, int64_t y) { return y == 0 ? Json() : Json(x % y); },
      [](double x, double y) {
        return y == 0 ? Json() : Json(std::fmod(x, y));
      });
}

Json expr::length(const Json &a) {
  if (a.is_string()) {
    int64_t n = 0;
    for (unsigned char c : a.get_ref<const std::string &>())
      if ((c & 0xC0) != 0x80)
        ++n;
    return n;
  }
  if (a.is_array() || a.is_object())
    return int64_t(a.size());
  return int64_t(0);
}

Json expr::concat(const std::vector<Json> &args) {
  bool allArrays = !args.empty();
  for (const Json &a : args)
    allArrays = allArrays && (a.is_array() || a.is_null());
  if (allArrays) {
    Json out = Json::array();
    for (const Json &a : args)
      if (a.is_array())
        for (const Json &x : a)
          out.push_back(x);
    return out;
  }
  std::string out;
  for (const Json &a : args)
    out += textOf(a);
  return out;
}

Json expr::unique(const Json &a) {
  if (!a.is_array())
    return a;
  Json out = Json::array();
  for (const Json &x : a) {
    bool seen = false;
    for (const Json &y : out)
      seen = seen || x == y;
    if (!seen)
      out.push_back(x);
  }
  return out;
}

Json expr::contains(const Json &haystack, const Json &needle) {
  if (haystack.is_string())
    return haystack.get_ref<const std::string &>().find(textOf(needle)) !=
           std::string::npos;
  if (haystack.is_array()) {
    for (const Json &x : haystack)
      if (eq(x, needle).get<bool>())
        return true;
    return false;
  }
  if (haystack.is_object() && needle.is_string())
    return haystack.contains(needle.get<std::string>());
  return false;
}

Json expr::join(const Json &list, const Json &separator) {
  if (!list.is_array())
    return textOf(list);
  std::string sep = textOf(separator), out;
  for (size_t i = 0; i < list.size(); ++i)
    out += (i ? sep : "") + textOf(list[i]);
  return out;
}

Json expr::exists(const Scope &scope, const Json &relativePath) {
  std::string p = textOf(relativePath);
  if (p.empty())
    return false;
  std::string full = p[0] == '/' ? p : scope.workspace() + "/" + p;
  struct stat st;
  return ::stat(full.c_str(), &st) == 0;
}

Json expr::member(const Json &v, const std::vector<std::string> &path) {
  std::optional<Json> found = drill(v, path, 0);
  return found ? *found : Json();
}

Json expr::all(const Json &list,
               const std::function<Json(const Json &)> &cond) {
  if (!list.is_array())
    return false;
  for (const Json &x : list)
    if (!truthy(cond(x)))
      return false;
  return true;
}

Json expr::any(const Json &list,
               const std::function<Json(const Json &)> &cond) {
  if (!list.is_array())
    return false;
  for (const Json &x : list)
    if (truthy(cond(x)))
      return true;
  return false;
}

Json expr::all(const Json &list) {
  return all(list, [](const Json &x) { return x; });
}
Json expr::any(const Json &list) {
  return any(list, [](const Json &x) { return x; });
}
