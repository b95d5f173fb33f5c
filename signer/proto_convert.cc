#include "signer/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "acme/key_authorization.h"
#include "common/status_macros.h"

namespace acme_signer::signer {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  absl::string_view message = status.message();
  if (message.size() <= kMaxGrpcStatusMessageBytes) {
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(message));
  }
  // The message travels in a trailer: beyond the client's metadata limit (8 KiB by default)
  // the agent would see "metadata size exceeds limit" instead of the refusal's reason. Cut on
  // a UTF-8 character boundary.
  size_t cut = kMaxGrpcStatusMessageBytes;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      absl::StrCat(message.substr(0, cut), "... (", message.size() - cut,
                                   " more bytes not shown)"));
}

absl::StatusOr<std::vector<acme::Identifier>> FromProto(
    const google::protobuf::RepeatedPtrField<pb::Identifier>& identifiers) {
  std::vector<acme::Identifier> out;
  out.reserve(identifiers.size());
  int index = 0;
  for (const pb::Identifier& id : identifiers) {
    ++index;
    std::string type;
    switch (id.type()) {
      case pb::IDENTIFIER_TYPE_DNS:
        type = "dns";
        break;
      case pb::IDENTIFIER_TYPE_IP:
        type = "ip";
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("identifier ", index, " has no type (set IDENTIFIER_TYPE_DNS)"));
    }
    if (id.value().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("identifier ", index, " has an empty value"));
    }
    out.push_back(acme::Identifier{std::move(type), id.value()});
  }
  return out;
}

void ToProto(const acme::Identifier& identifier, pb::Identifier* out) {
  out->set_type(identifier.type == "dns"  ? pb::IDENTIFIER_TYPE_DNS
                : identifier.type == "ip" ? pb::IDENTIFIER_TYPE_IP
                                          : pb::IDENTIFIER_TYPE_UNSPECIFIED);
  out->set_value(identifier.value);
}

void ToProto(const acme::Problem& problem, pb::Problem* out) {
  out->set_type(problem.type);
  out->set_detail(problem.detail);
  for (const acme::Subproblem& sub : problem.subproblems) {
    pb::Subproblem* p = out->add_subproblems();
    p->set_type(sub.type);
    p->set_detail(sub.detail);
    if (sub.identifier.has_value()) ToProto(*sub.identifier, p->mutable_identifier());
  }
}

bool ToTimestamp(const std::string& rfc3339, google::protobuf::Timestamp* out) {
  if (rfc3339.empty()) return false;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return false;
  ToTimestamp(t, out);
  return true;
}

void ToTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

pb::OrderStatus ToProto(acme::OrderStatus status) {
  switch (status) {
    case acme::OrderStatus::kPending: return pb::ORDER_STATUS_PENDING;
    case acme::OrderStatus::kReady: return pb::ORDER_STATUS_READY;
    case acme::OrderStatus::kProcessing: return pb::ORDER_STATUS_PROCESSING;
    case acme::OrderStatus::kValid: return pb::ORDER_STATUS_VALID;
    case acme::OrderStatus::kInvalid: return pb::ORDER_STATUS_INVALID;
  }
  return pb::ORDER_STATUS_UNSPECIFIED;
}

pb::AuthorizationStatus ToProto(acme::AuthorizationStatus status) {
  switch (status) {
    case acme::AuthorizationStatus::kPending: return pb::AUTHORIZATION_STATUS_PENDING;
    case acme::AuthorizationStatus::kValid: return pb::AUTHORIZATION_STATUS_VALID;
    case acme::AuthorizationStatus::kInvalid: return pb::AUTHORIZATION_STATUS_INVALID;
    case acme::AuthorizationStatus::kDeactivated: return pb::AUTHORIZATION_STATUS_DEACTIVATED;
    case acme::AuthorizationStatus::kExpired: return pb::AUTHORIZATION_STATUS_EXPIRED;
    case acme::AuthorizationStatus::kRevoked: return pb::AUTHORIZATION_STATUS_REVOKED;
  }
  return pb::AUTHORIZATION_STATUS_UNSPECIFIED;
}

pb::ChallengeStatus ToProto(acme::ChallengeStatus status) {
  switch (status) {
    case acme::ChallengeStatus::kPending: return pb::CHALLENGE_STATUS_PENDING;
    case acme::ChallengeStatus::kProcessing: return pb::CHALLENGE_STATUS_PROCESSING;
    case acme::ChallengeStatus::kValid: return pb::CHALLENGE_STATUS_VALID;
    case acme::ChallengeStatus::kInvalid: return pb::CHALLENGE_STATUS_INVALID;
  }
  return pb::CHALLENGE_STATUS_UNSPECIFIED;
}

void ToProto(const acme::Order& order, std::optional<absl::Duration> retry_after, pb::Order* out) {
  out->set_url(order.url);
  out->set_status(ToProto(order.status));
  for (const acme::Identifier& id : order.identifiers) ToProto(id, out->add_identifiers());
  out->set_finalize_url(order.finalize);
  out->set_certificate_url(order.certificate);
  ToTimestamp(order.expires, out->mutable_expires());
  if (order.error.has_value()) ToProto(*order.error, out->mutable_error());
  if (retry_after.has_value() && *retry_after > absl::ZeroDuration()) {
    out->set_retry_after_seconds(
        static_cast<uint32_t>(std::min<int64_t>(absl::ToInt64Seconds(*retry_after), 86400)));
  }
  if (!ToTimestamp(order.not_before, out->mutable_not_before())) out->clear_not_before();
  if (!ToTimestamp(order.not_after, out->mutable_not_after())) out->clear_not_after();
  if (out->expires().seconds() == 0 && out->expires().nanos() == 0) out->clear_expires();
  out->set_replaces(order.replaces);
}

absl::Status ToProto(const acme::Challenge& challenge, const std::string& thumbprint,
                     pb::Challenge* out) {
  out->set_type(challenge.type);
  out->set_url(challenge.url);
  out->set_status(ToProto(challenge.status));
  out->set_token(challenge.token);
  if (challenge.IsKnownType() && !challenge.token.empty()) {
    ASSIGN_OR_RETURN(std::string key_authorization,
                     acme::KeyAuthorization(challenge.token, thumbprint));
    if (challenge.type == acme::kDns01) {
      ASSIGN_OR_RETURN(std::string txt, acme::Dns01TxtValue(key_authorization));
      out->set_dns01_txt_value(txt);
    }
    out->set_key_authorization(std::move(key_authorization));
  }
  if (challenge.error.has_value()) ToProto(*challenge.error, out->mutable_error());
  if (!ToTimestamp(challenge.validated, out->mutable_validated())) out->clear_validated();
  return absl::OkStatus();
}

absl::Status ToProto(const acme::Authorization& authorization, const std::string& thumbprint,
                     pb::Authorization* out) {
  out->set_url(authorization.url);
  ToProto(authorization.identifier, out->mutable_identifier());
  out->set_status(ToProto(authorization.status));
  out->set_wildcard(authorization.wildcard);
  if (!ToTimestamp(authorization.expires, out->mutable_expires())) out->clear_expires();
  for (const acme::Challenge& challenge : authorization.challenges) {
    RETURN_IF_ERROR(ToProto(challenge, thumbprint, out->add_challenges()));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
