//===- AnswersInput.cpp - Answers to a human gate from the command line --===//
//
// This file implements the bounded answers file and the int range checks
// of `resume` (see AnswersInput.h).
//
//===----------------------------------------------------------------------===//
#include "AnswersInput.h"
#include "FileText.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

using namespace iterc::rt;

namespace {

const char *intRange() {
  return "a whole number from -9223372036854775808 to 9223372036854775807";
}

/// The largest magnitude a double holds every whole number up to.
constexpr double exactDoubleLimit = 9007199254740992.0; // 2^53

} // namespace

Expected<Json> iterc::rt::readAnswersFile(const std::string &path) {
  std::string error;
  std::optional<std::string> text =
      readBoundedFile(path, maxAnswersFileBytes, error);
  std::string shown = path == "-" ? "(standard input)" : path;
  if (!text)
    return Error(ErrorCode::InvalidInput,
                 "cannot read --answers-file " + shown + ": " + error);
  std::optional<Json> parsed = parseJson(*text);
  if (!parsed || !parsed->is_object())
    return Error(ErrorCode::InvalidInput,
                 "--answers-file " + shown + " is not a JSON object");
  return *parsed;
}

Expected<Json> iterc::rt::answerValue(const FieldDesc *field,
                                      const std::string &name,
                                      const std::string &text) {
  if (field && field->type == FieldType::String)
    return Json(text);
  if (field && field->type == FieldType::Int) {
    errno = 0;
    char *end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE)
      return Error(ErrorCode::InvalidInput,
                   "--answer " + name + ": '" + text + "' is not an int (" +
                       intRange() + ")");
    return Json(int64_t(n));
  }
  if (std::optional<Json> j = parseJson(text))
    return *j;
  return Json(text);
}

std::vector<std::string> iterc::rt::intAnswerProblems(const SchemaDesc &schema,
                                                      Json &answers) {
  std::vector<std::string> problems;
  if (!answers.is_object())
    return problems;
  for (const FieldDesc &f : schema.fields) {
    auto it = answers.find(f.name);
    if (f.type != FieldType::Int || it == answers.end() || !it->is_number())
      continue;
    Json &v = *it;
    bool ok = true;
    if (v.is_number_unsigned()) {
      ok = v.get<uint64_t>() <=
           uint64_t(std::numeric_limits<int64_t>::max());
    } else if (v.is_number_float()) {
      double d = v.get<double>();
      ok = std::isfinite(d) && std::trunc(d) == d &&
           std::fabs(d) <= exactDoubleLimit;
      if (ok)
        v = Json(int64_t(d));
    }
    if (!ok)
      problems.push_back("field '" + f.name + "': " + v.dump() +
                         " is not an int (" + intRange() + ")");
  }
  return problems;
}
