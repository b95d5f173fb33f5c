// Conversions between the ACME engine's types (acme/) and the wire types of acmesigner.v1,
// and from absl::Status to grpc::Status (the only place that mapping happens).
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_SIGNER_PROTO_CONVERT_H_
#define ACME_SIGNER_SIGNER_PROTO_CONVERT_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "acme/identifier.h"
#include "acme/problem.h"
#include "acme/resources.h"
#include "acmesigner/v1/signer.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace acme_signer::signer {

namespace pb = ::acmesigner::v1;

// Longest status message sent to an agent; longer ones are cut and say how much was left out.
inline constexpr size_t kMaxGrpcStatusMessageBytes = 4096;

// absl::Status → grpc::Status with the same code and message (at most
// kMaxGrpcStatusMessageBytes of it); an ACME problem carried by the status is kept in the
// message (its type and detail) so the agent can show it.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Wire identifiers → ACME identifiers. InvalidArgument for an unspecified type or an empty
// value, naming the position.
absl::StatusOr<std::vector<acme::Identifier>> FromProto(
    const google::protobuf::RepeatedPtrField<pb::Identifier>& identifiers);
void ToProto(const acme::Identifier& identifier, pb::Identifier* out);
void ToProto(const acme::Problem& problem, pb::Problem* out);

// RFC 3339 text (as the CA sent it) → Timestamp; false when empty or unparsable.
bool ToTimestamp(const std::string& rfc3339, google::protobuf::Timestamp* out);
void ToTimestamp(absl::Time time, google::protobuf::Timestamp* out);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

pb::OrderStatus ToProto(acme::OrderStatus status);
pb::AuthorizationStatus ToProto(acme::AuthorizationStatus status);
pb::ChallengeStatus ToProto(acme::ChallengeStatus status);

// Fills the order fields (not its authorizations). `retry_after` becomes whole seconds.
void ToProto(const acme::Order& order, std::optional<absl::Duration> retry_after, pb::Order* out);

// A challenge with what an agent needs to solve it: token, key authorization and, for dns-01,
// the TXT value. `thumbprint` is the account key's JWK thumbprint.
absl::Status ToProto(const acme::Challenge& challenge, const std::string& thumbprint,
                     pb::Challenge* out);
absl::Status ToProto(const acme::Authorization& authorization, const std::string& thumbprint,
                     pb::Authorization* out);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_PROTO_CONVERT_H_
