//===- AnswersInput.h - Answers to a human gate from the command line -*- C++ -*-===//
//
// `resume --answers-file FILE` and `--answer NAME=VALUE` are inputs a person
// or a script controls. The file is a regular file (or `-`, standard input)
// of at most 16 MiB; an `int` field gets a whole number in int64 range, or
// a usage error that says so: never a hang on a FIFO, an unbounded read of
// a device, or a number silently turned into a float.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_ANSWERSINPUT_H
#define ITERC_RT_SRC_ANSWERSINPUT_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Workflow.h"

#include <string>
#include <vector>

namespace iterc::rt {

/// The largest --answers-file read.
constexpr size_t maxAnswersFileBytes = size_t(16) << 20;

/// The JSON object in `path` ("-": standard input), or an InvalidInput
/// error naming the file and what is wrong with it.
Expected<Json> readAnswersFile(const std::string &path);

/// The value of `--answer NAME=TEXT` for `field` (nullptr when the gate has
/// no schema): a string field takes the text as it is, an int field a whole
/// number in int64 range (else an error quoting the text), others the text
/// as JSON when it parses, else as a string.
Expected<Json> answerValue(const FieldDesc *field, const std::string &name,
                           const std::string &text);

/// One problem for each `int` field of `schema` whose value in `answers` is
/// a number but not a whole number in int64 range. A whole float within
/// +-2^53 (such as 3.0) becomes that int in `answers`.
std::vector<std::string> intAnswerProblems(const SchemaDesc &schema,
                                           Json &answers);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_ANSWERSINPUT_H
