#include "acme/server_problem.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "acme/json_util.h"

namespace acme_signer::acme {
namespace {

using internal::Json;

std::string FullType(absl::string_view type) {
  if (absl::StrContains(type, ':')) return std::string(type);  // already a URI
  return absl::StrCat(kAcmeErrorPrefix, type);
}

std::string ShortType(absl::string_view type) {
  if (absl::StartsWith(type, kAcmeErrorPrefix)) {
    return std::string(type.substr(kAcmeErrorPrefix.size()));
  }
  return std::string(type);
}

Json ToJsonValue(const ServerProblem& problem) {
  Json doc = Json::object();
  doc["type"] = FullType(problem.type);
  doc["detail"] = problem.detail;
  doc["status"] = problem.http_status;
  if (!problem.subproblems.empty()) {
    Json subs = Json::array();
    for (const Subproblem& sub : problem.subproblems) {
      Json entry = Json::object();
      entry["type"] = FullType(sub.type);
      entry["detail"] = sub.detail;
      if (sub.identifier.has_value()) {
        entry["identifier"] = {{"type", sub.identifier->type}, {"value", sub.identifier->value}};
      }
      subs.push_back(std::move(entry));
    }
    doc["subproblems"] = std::move(subs);
  }
  if (!problem.algorithms.empty()) doc["algorithms"] = problem.algorithms;
  return doc;
}

}  // namespace

std::string ServerProblem::ToJson() const { return internal::DumpJson(ToJsonValue(*this)); }

absl::Status ServerProblem::ToStatus() const {
  Problem as_problem;
  as_problem.type = FullType(type);
  as_problem.status = http_status;
  absl::Status status(ProblemCode(as_problem),
                      absl::StrCat(ShortType(type), ": ", internal::SanitizeForMessage(detail)));
  status.SetPayload(kServerProblemPayloadUrl, absl::Cord(ToJson()));
  if (!location.empty()) status.SetPayload(kServerProblemLocationPayloadUrl, absl::Cord(location));
  return status;
}

int DefaultHttpStatus(absl::string_view type) {
  const std::string short_type = ShortType(type);
  if (short_type == problem_type::kUnauthorized || short_type == problem_type::kOrderNotReady ||
      short_type == problem_type::kUserActionRequired) {
    return 403;
  }
  if (short_type == problem_type::kRateLimited) return 429;
  if (short_type == problem_type::kServerInternal) return 500;
  return 400;
}

ServerProblem MakeServerProblem(absl::string_view type, absl::string_view detail) {
  ServerProblem problem;
  problem.type = ShortType(type);
  problem.detail = std::string(detail);
  problem.http_status = DefaultHttpStatus(type);
  return problem;
}

absl::Status ServerProblemStatus(absl::string_view type, absl::string_view detail) {
  return MakeServerProblem(type, detail).ToStatus();
}

absl::Status ServerProblemStatus(absl::string_view type, absl::string_view detail,
                                 int http_status) {
  ServerProblem problem = MakeServerProblem(type, detail);
  problem.http_status = http_status;
  return problem.ToStatus();
}

std::optional<ServerProblem> GetServerProblem(const absl::Status& status) {
  auto payload = status.GetPayload(kServerProblemPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  // Our own document: parse it with the client-side parser, which reads every member we write
  // except "algorithms".
  const std::string json(*payload);
  absl::StatusOr<Problem> parsed = ParseProblem(json);
  if (!parsed.ok()) return std::nullopt;
  ServerProblem problem;
  problem.type = ShortType(parsed->type);
  problem.detail = parsed->detail;
  problem.http_status = parsed->status;
  for (Subproblem& sub : parsed->subproblems) {
    sub.type = ShortType(sub.type);
    problem.subproblems.push_back(std::move(sub));
  }
  if (auto location = status.GetPayload(kServerProblemLocationPayloadUrl)) {
    problem.location = std::string(*location);
  }
  absl::StatusOr<Json> doc = internal::ParseJsonObject(json, "server problem");
  if (doc.ok()) {
    if (auto it = doc->find("algorithms"); it != doc->end() && it->is_array()) {
      for (const Json& alg : *it) {
        if (alg.is_string()) problem.algorithms.push_back(alg.get<std::string>());
      }
    }
  }
  return problem;
}

ServerProblem ProblemForStatus(const absl::Status& status) {
  if (std::optional<ServerProblem> problem = GetServerProblem(status)) return *std::move(problem);
  return MakeServerProblem(problem_type::kServerInternal, "internal error");
}

}  // namespace acme_signer::acme
