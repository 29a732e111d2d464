//===- Redact.cpp - Keeping secret values out of what a run writes --------===//
//
// This file implements SecretMask and the list of a run's secrets.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Redact.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

using namespace iterc::rt;

void SecretMask::add(const std::string &secret) {
  if (secret.size() < kMinSecretBytes)
    return;
  std::string quoted =
      Json(secret).dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string escaped = quoted.substr(1, quoted.size() - 2);
  for (const std::string &value : {secret, escaped})
    if (std::find(secrets.begin(), secrets.end(), value) == secrets.end())
      secrets.push_back(value);
  std::stable_sort(secrets.begin(), secrets.end(),
                   [](const std::string &a, const std::string &b) {
                     return a.size() > b.size();
                   });
}

std::string SecretMask::apply(std::string text) const {
  for (const std::string &secret : secrets) {
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), mask);
      pos += mask.size();
    }
  }
  return text;
}

Json SecretMask::apply(const Json &value) const {
  if (secrets.empty())
    return value;
  if (value.is_string())
    return apply(value.get<std::string>());
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json &x : value)
      out.push_back(apply(x));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it)
      out[apply(it.key())] = apply(it.value());
    return out;
  }
  return value;
}

std::vector<std::string> iterc::rt::envRefNames(const std::string &text) {
  std::vector<std::string> names;
  for (size_t at = text.find("${"); at != std::string::npos;
       at = text.find("${", at + 2)) {
    size_t end = at + 2;
    while (end < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[end])) ||
            text[end] == '_'))
      ++end;
    if (end > at + 2)
      names.push_back(text.substr(at + 2, end - at - 2));
  }
  return names;
}

std::vector<std::string> iterc::rt::runSecrets(const WorkflowDesc &wf,
                                               const Json &vars) {
  std::vector<std::string> out;
  for (const VarDesc &v : wf.vars) {
    if (!v.secret)
      continue;
    if (vars.is_object() && vars.contains(v.name)) {
      const Json &value = vars[v.name];
      out.push_back(value.is_string() ? value.get<std::string>()
                                      : value.dump());
    }
    // `token: string secret = "Bearer ${API_TOKEN}"` makes $API_TOKEN a
    // secret too, wherever else the workflow reads it.
    if (v.defaultValue && v.defaultValue->is_string())
      for (const std::string &name :
           envRefNames(v.defaultValue->get<std::string>()))
        if (const char *value = std::getenv(name.c_str()))
          out.push_back(value);
  }
  for (const char *key :
       {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"})
    if (const char *value = std::getenv(key))
      out.push_back(value);
  return out;
}
