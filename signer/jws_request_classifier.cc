#include "signer/jws_request_classifier.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acme/json_util.h"
#include "acme/revocation_reason.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "http/url.h"
#include "nlohmann/json.hpp"
#include "signer/audit_record.h"

namespace acme_signer::signer {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxUrlLength = 2048;
// newOrder is the deepest payload we accept: object > identifiers array > identifier object.
constexpr int kMaxJsonDepth = 3;
constexpr size_t kMaxCertificateDerSize = 16 * 1024;
constexpr size_t kMaxReplacesLength = 512;
constexpr size_t kMaxTimestampLength = 64;

// ---------------------------------------------------------------------------------------------
// URLs

// An absolute http(s) URL (http::Url) restricted to what ACME servers hand out. Anything a
// router might normalise (percent-encoding, dot segments, empty segments, query, fragment,
// userinfo, a host or port that curl reads differently from how it is written) is refused, so
// two URLs that differ here cannot reach the same CA endpoint.

bool IsPathChar(char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.'; }

bool IsIpv6LiteralChar(char c) { return absl::ascii_isxdigit(c) || c == ':' || c == '.'; }

constexpr absl::string_view kNoQueryFragmentOrPercent = "(no query, fragment or percent-encoding)";

absl::StatusOr<http::Url> ParseAcmeUrl(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", EscapeForError(text), "\" is not acceptable: ", why));
  };
  if (text.size() > kMaxUrlLength) return bad(absl::StrCat("longer than ", kMaxUrlLength));
  absl::StatusOr<http::Url> parsed = http::Url::Parse(text);
  if (!parsed.ok()) return bad(parsed.status().message());
  const http::Url& url = *parsed;
  if (!url.is_http_or_https()) return bad("scheme must be https or http");

  // A reader that misses the '@' takes what precedes it for the host and port: say what it
  // would stumble on.
  if (url.userinfo().has_value()) {
    return bad(absl::StrContains(*url.userinfo(), ':')
                   ? "userinfo before '@' (read without the '@', the authority has a bad port)"
                   : "userinfo before '@' (read without the '@', the host has a character "
                     "other than letters, digits, '-', '.')");
  }
  const std::string& host = url.host_as_written();
  if (absl::StartsWith(host, "[")) {
    const absl::string_view literal = absl::string_view(host).substr(1, host.size() - 2);
    if (!std::all_of(literal.begin(), literal.end(), IsIpv6LiteralChar)) {
      return bad("bad IPv6 literal");
    }
  } else if (!std::all_of(host.begin(), host.end(), IsHostChar)) {
    return bad("host has a character other than letters, digits, '-', '.'");
  }
  // curl reads "0x7f.1" as 127.0.0.1 and "[0:0::1]" as [::1]; only the plain spelling passes.
  if (absl::AsciiStrToLower(host) != url.host()) {
    return bad(absl::StrCat("host is read as ", url.host(), " (write it so)"));
  }
  if (const std::optional<std::string>& port = url.port_as_written(); port.has_value()) {
    if (port->empty()) return bad("empty port");
    // curl drops leading zeros (":0443" is 443) and takes port 0.
    if (*port != absl::StrCat(url.port()) || url.port() == 0) return bad("bad port");
  }

  if (url.query().has_value()) return bad(absl::StrCat("query ", kNoQueryFragmentOrPercent));
  if (url.has_fragment()) return bad(absl::StrCat("fragment ", kNoQueryFragmentOrPercent));
  const std::string& path = url.path();
  if (!std::all_of(path.begin(), path.end(), IsPathChar)) {
    return bad(absl::StrCat("path has a character other than letters, digits and -._~/ ",
                            kNoQueryFragmentOrPercent));
  }
  std::vector<absl::string_view> segments = absl::StrSplit(absl::string_view(path).substr(1), '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i] == "." || segments[i] == "..") return bad("dot segment in path");
    if (segments[i].empty() && i + 1 < segments.size()) return bad("empty segment in path");
  }
  return parsed;
}

// Origin and path without a trailing '/', for matching endpoints.
std::string EndpointKey(const http::Url& url) {
  absl::string_view path = url.path();
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return absl::StrCat(url.Origin(), path);
}

// ---------------------------------------------------------------------------------------------
// Strict JSON

absl::StatusOr<Json> ParseStrictJsonObject(absl::string_view payload) {
  return acme::internal::ParseStrictJsonObject(payload, "payload", kMaxJsonDepth);
}

// Refuses members other than `required` + `optional`, and missing required ones.
absl::Status CheckMembers(const Json& object, absl::string_view what,
                          std::vector<absl::string_view> required,
                          std::vector<absl::string_view> optional) {
  for (const auto& [name, value] : object.items()) {
    if (std::find(required.begin(), required.end(), name) == required.end() &&
        std::find(optional.begin(), optional.end(), name) == optional.end()) {
      std::vector<absl::string_view> allowed = required;
      allowed.insert(allowed.end(), optional.begin(), optional.end());
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has unexpected member \"", EscapeForError(name),
          "\" (allowed: ", allowed.empty() ? "none" : absl::StrJoin(allowed, ", "), ")"));
    }
  }
  for (absl::string_view name : required) {
    if (!object.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " lacks member \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringMember(const Json& object, absl::string_view what,
                                         absl::string_view name, size_t max_length) {
  const Json& value = object.at(name);
  if (!value.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " member \"", name, "\" is not a string"));
  }
  std::string out = value.get<std::string>();
  if (out.size() > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " member \"", name, "\" is longer than ", max_length));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-kind payload rules

absl::Status Denied(const AgentPolicy& policy, absl::string_view url, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("agent ", EscapeForError(policy.name),
                                                  " may not have ", EscapeForError(url),
                                                  " signed: ", why));
}

absl::Status ClassifyNewOrder(const AgentPolicy& policy, absl::string_view payload,
                              JwsClassification& out) {
  constexpr absl::string_view kWhat = "newOrder payload";
  ASSIGN_OR_RETURN(Json body, ParseStrictJsonObject(payload));
  RETURN_IF_ERROR(
      CheckMembers(body, kWhat, {"identifiers"}, {"notBefore", "notAfter", "replaces"}));
  const Json& identifiers = body.at("identifiers");
  if (!identifiers.is_array()) {
    return absl::InvalidArgumentError("newOrder payload member \"identifiers\" is not an array");
  }
  for (const Json& identifier : identifiers) {
    constexpr absl::string_view kIdentifier = "newOrder identifier";
    if (!identifier.is_object()) {
      return absl::InvalidArgumentError("newOrder identifier is not an object");
    }
    RETURN_IF_ERROR(CheckMembers(identifier, kIdentifier, {"type", "value"}, {}));
    ASSIGN_OR_RETURN(std::string type, StringMember(identifier, kIdentifier, "type", 16));
    ASSIGN_OR_RETURN(std::string value, StringMember(identifier, kIdentifier, "value", 255));
    out.identifiers.push_back({std::move(type), std::move(value)});
  }
  for (absl::string_view name : {"notBefore", "notAfter"}) {
    if (!body.contains(name)) continue;
    ASSIGN_OR_RETURN(std::string timestamp, StringMember(body, kWhat, name, kMaxTimestampLength));
    absl::Time parsed;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, timestamp, &parsed, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("newOrder payload member \"", name, "\" is not an RFC 3339 time"));
    }
  }
  if (body.contains("replaces")) {
    ASSIGN_OR_RETURN(std::string replaces,
                     StringMember(body, kWhat, "replaces", kMaxReplacesLength));
    // ARI certificate identifier: base64url(AKI) "." base64url(serial).
    std::vector<absl::string_view> parts = absl::StrSplit(replaces, '.');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty() ||
        !DecodeBase64Url(parts[0], "replaces").ok() ||
        !DecodeBase64Url(parts[1], "replaces").ok()) {
      return absl::InvalidArgumentError(
          "newOrder payload member \"replaces\" is not an ARI certificate identifier");
    }
    out.replaces = std::move(replaces);
  }
  RETURN_IF_ERROR(CheckIdentifiers(policy, out.identifiers));
  out.kind = JwsRequestKind::kNewOrder;
  return absl::OkStatus();
}

absl::Status ClassifyFinalize(const JwsRequestContext& context, const AgentPolicy& policy,
                              const KnownOrder& order, absl::string_view url,
                              absl::string_view payload, JwsClassification& out) {
  if (order.owner != policy.name) {
    return Denied(policy, url, "it finalizes an order of another agent");
  }
  constexpr absl::string_view kWhat = "finalize payload";
  ASSIGN_OR_RETURN(Json body, ParseStrictJsonObject(payload));
  RETURN_IF_ERROR(CheckMembers(body, kWhat, {"csr"}, {}));
  ASSIGN_OR_RETURN(std::string encoded, StringMember(body, kWhat, "csr", kMaxJwsPayloadSize));
  ASSIGN_OR_RETURN(std::string der, DecodeBase64Url(encoded, "finalize payload member \"csr\""));
  ASSIGN_OR_RETURN(CsrSummary summary,
                   CheckCsr(der, order.identifiers, policy, context.account_public_key_der));
  out.kind = JwsRequestKind::kFinalize;
  out.order_url = order.order_url;
  for (const std::string& name : summary.names) out.identifiers.push_back({"dns", name});
  out.csr = std::move(summary);
  return absl::OkStatus();
}

// The DNS names a certificate is valid for; refuses certificates naming anything else.
absl::StatusOr<std::vector<std::string>> CertificateNames(absl::string_view der) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("revokeCert certificate: ", why));
  };
  if (der.empty() || der.size() > kMaxCertificateDerSize) {
    return bad(absl::StrCat("size ", der.size(), " is outside 1..", kMaxCertificateDerSize));
  }
  absl::StatusOr<SslUniquePtr<X509>> parsed = ParseCertificateDer(der);
  if (!parsed.ok()) return bad(parsed.status().message());
  SslUniquePtr<X509> certificate = *std::move(parsed);

  std::vector<std::string> names;
  int critical = 0;
  SslUniquePtr<GENERAL_NAMES> alt_names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate.get(), NID_subject_alt_name, &critical, nullptr)));
  if (alt_names == nullptr && critical != -1) {
    return bad("unreadable or repeated subjectAltName extension");
  }
  for (int i = 0; alt_names != nullptr && i < sk_GENERAL_NAME_num(alt_names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt_names.get(), i);
    if (name->type != GEN_DNS) {
      return absl::PermissionDeniedError(
          "revokeCert certificate has a subjectAltName that is not a DNS name");
    }
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       static_cast<size_t>(ASN1_STRING_length(name->d.dNSName)));
  }
  const X509_NAME* subject = X509_get_subject_name(certificate.get());
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    unsigned char* raw = nullptr;
    const int length =
        ASN1_STRING_to_UTF8(&raw, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    OpenSslBytes owned(raw);
    if (length < 0) return bad("unreadable commonName");
    names.emplace_back(reinterpret_cast<const char*>(raw), static_cast<size_t>(length));
  }
  if (names.empty()) return bad("it has no DNS name");
  return names;
}

absl::Status ClassifyRevokeCert(const JwsRequestContext& context, const AgentPolicy& policy,
                                absl::string_view url, absl::string_view payload,
                                JwsClassification& out) {
  constexpr absl::string_view kWhat = "revokeCert payload";
  ASSIGN_OR_RETURN(Json body, ParseStrictJsonObject(payload));
  RETURN_IF_ERROR(CheckMembers(body, kWhat, {"certificate"}, {"reason"}));
  ASSIGN_OR_RETURN(std::string encoded,
                   StringMember(body, kWhat, "certificate", kMaxJwsPayloadSize));
  ASSIGN_OR_RETURN(std::string der,
                   DecodeBase64Url(encoded, "revokeCert payload member \"certificate\""));
  if (body.contains("reason")) {
    const Json& reason = body.at("reason");
    if (!reason.is_number_integer()) {
      return absl::InvalidArgumentError("revokeCert payload member \"reason\" is not an integer");
    }
    absl::StatusOr<acme::RevocationReason> accepted =
        acme::RevocationReasonFromCode(reason.get<int64_t>());
    if (!accepted.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("revokeCert payload member \"reason\": ", accepted.status().message()));
    }
    out.revocation_reason = static_cast<int>(*accepted);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, CertificateNames(der));
  for (const std::string& name : names) {
    RETURN_IF_ERROR(CheckName(policy, name));
    Identifier identifier{"dns", name};
    if (std::find(out.identifiers.begin(), out.identifiers.end(), identifier) ==
        out.identifiers.end()) {
      out.identifiers.push_back(std::move(identifier));
    }
  }
  out.kind = JwsRequestKind::kRevokeCert;
  out.certificate_sha256_hex = Sha256Hex(der);
  // The same rule as the RevokeCertificate RPC: names inside the policy are not enough (agents'
  // names may overlap); the certificate itself must be one this agent got.
  std::optional<std::string> owner = context.find_certificate_owner(out.certificate_sha256_hex);
  if (!owner.has_value()) {
    return Denied(policy, url,
                  absl::StrCat("certificate ", out.certificate_sha256_hex,
                               " (SHA-256) was not issued to it through this signer"));
  }
  if (*owner != policy.name) {
    return Denied(policy, url,
                  absl::StrCat("certificate ", out.certificate_sha256_hex,
                               " (SHA-256) was issued to another agent"));
  }
  return absl::OkStatus();
}

// An endpoint's comparison key (origin and path without a trailing slash, EndpointKey), so a
// spelling variant of an endpoint (":443", upper-case host, trailing '/') is recognised as that
// endpoint; nullopt for an empty or unparsable URL.
std::optional<std::string> EndpointKeyOf(absl::string_view endpoint) {
  if (endpoint.empty()) return std::nullopt;
  absl::StatusOr<http::Url> parsed = ParseAcmeUrl(endpoint);
  if (!parsed.ok()) return std::nullopt;
  return EndpointKey(*parsed);
}

// What every SignJws request must be: from an agent allowed to have JWS signed, to a signer set
// up for it, a payload within the limit, a URL on the CA's origin. Returns the URL's endpoint key.
absl::StatusOr<std::string> CheckedTargetKey(const JwsRequestContext& context,
                                             const AgentPolicy& policy, absl::string_view url,
                                             absl::string_view payload) {
  if (!policy.allow_sign_jws) {
    return absl::PermissionDeniedError(absl::StrCat(
        "agent ", EscapeForError(policy.name), " is not allowed to have JWS signed (SignJws)"));
  }
  const CaDirectory& directory = context.directory;
  if (directory.account_url.empty() || !context.find_order_by_finalize_url ||
      !context.find_resource || !context.find_certificate_owner) {
    return absl::FailedPreconditionError(
        "SignJws needs the account URL and the order, resource and certificate lookups; the "
        "signer is not set up for it");
  }
  absl::StatusOr<http::Url> ca = ParseAcmeUrl(directory.directory_url);
  if (!ca.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("CA directory URL: ", ca.status().message()));
  }
  if (payload.size() > kMaxJwsPayloadSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload of ", payload.size(), " bytes is larger than the limit of ", kMaxJwsPayloadSize));
  }
  ASSIGN_OR_RETURN(http::Url target, ParseAcmeUrl(url));
  if (target.Origin() != ca->Origin()) {
    return Denied(policy, url, absl::StrCat("it is not on the CA's origin ", ca->Origin()));
  }
  return EndpointKey(target);
}

// The endpoints that act on the signer's account rather than an agent's order are never signed
// for agents: newNonce, newAccount, keyChange, renewalInfo, the directory and the account URL
// (and anything under it).
absl::Status RefuseAccountEndpoints(const CaDirectory& directory, const AgentPolicy& policy,
                                    absl::string_view url, const std::string& target_key) {
  const struct {
    const std::string& endpoint;
    absl::string_view name;
  } forbidden[] = {
      {directory.new_nonce, "newNonce"},          {directory.new_account, "newAccount"},
      {directory.key_change, "keyChange"},        {directory.renewal_info, "renewalInfo"},
      {directory.directory_url, "the directory"},
  };
  for (const auto& [endpoint, name] : forbidden) {
    if (EndpointKeyOf(endpoint) == target_key) {
      return Denied(policy, url, absl::StrCat(name, " requests are never signed for agents"));
    }
  }
  const std::optional<std::string> account_key = EndpointKeyOf(directory.account_url);
  if (!account_key.has_value()) {
    return absl::FailedPreconditionError("the signer's account URL is malformed");
  }
  if (target_key == *account_key || absl::StartsWith(target_key, *account_key + "/")) {
    return Denied(policy, url, "requests to the signer's account URL are never signed for agents");
  }
  return absl::OkStatus();
}

// A request to a resource of one of this agent's orders: POST-as-GET (empty payload), an
// authorization's deactivation, or a challenge response ({}). The account's orders list
// (wherever a CA puts it), other agents' orders and challenges, and URLs nobody recorded are
// refused, so an agent can neither read other departments' names nor start (and fail) the
// validation of another agent's challenge.
absl::Status ClassifyOrderResource(const JwsRequestContext& context, const AgentPolicy& policy,
                                   absl::string_view url, absl::string_view payload,
                                   JwsClassification& out) {
  std::optional<OrderResource> resource = context.find_resource(url);
  if (!resource.has_value()) {
    return Denied(policy, url,
                  "it is not a resource of an order this agent created or adopted (pass the "
                  "order URL with the request so the signer can adopt the order)");
  }
  if (resource->agent != policy.name) {
    return Denied(policy, url,
                  absl::StrCat("it is the ", OrderResourceKindName(resource->kind),
                               " URL of another agent's order"));
  }
  if (payload.empty()) {
    out.kind = JwsRequestKind::kPostAsGet;
    out.resource = std::move(resource);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Json body, ParseStrictJsonObject(payload));
  if (body.size() == 1 && body.contains("status") && body["status"] == "deactivated") {
    if (resource->kind != OrderResourceKind::kAuthorization) {
      return Denied(policy, url,
                    absl::StrCat("{\"status\":\"deactivated\"} deactivates an authorization, "
                                 "and this URL is the ",
                                 OrderResourceKindName(resource->kind), " of an order"));
    }
    out.kind = JwsRequestKind::kDeactivateAuthorization;
    out.resource = std::move(resource);
    return absl::OkStatus();
  }
  if (!body.empty()) {
    return Denied(policy, url,
                  "not a newOrder, revokeCert or known finalize URL, so only an empty payload "
                  "(POST-as-GET), {} (challenge response) or {\"status\":\"deactivated\"} "
                  "(an authorization's deactivation) may be signed for it");
  }
  if (resource->kind != OrderResourceKind::kChallenge) {
    return Denied(policy, url,
                  absl::StrCat("{} answers a challenge, and this URL is the ",
                               OrderResourceKindName(resource->kind), " of an order"));
  }
  out.kind = JwsRequestKind::kChallenge;
  out.resource = std::move(resource);
  return absl::OkStatus();
}

}  // namespace

absl::string_view JwsRequestKindName(JwsRequestKind kind) {
  switch (kind) {
    case JwsRequestKind::kNewOrder:
      return "newOrder";
    case JwsRequestKind::kFinalize:
      return "finalize";
    case JwsRequestKind::kChallenge:
      return "challenge";
    case JwsRequestKind::kPostAsGet:
      return "postAsGet";
    case JwsRequestKind::kRevokeCert:
      return "revokeCert";
    case JwsRequestKind::kDeactivateAuthorization:
      return "deactivateAuthorization";
  }
  return "unknown";
}

absl::Status CheckUrlOnCaOrigin(absl::string_view directory_url, absl::string_view url,
                                absl::string_view what) {
  absl::StatusOr<http::Url> ca = ParseAcmeUrl(directory_url);
  if (!ca.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("CA directory URL: ", ca.status().message()));
  }
  absl::StatusOr<http::Url> target = ParseAcmeUrl(url);
  if (!target.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", target.status().message()));
  }
  if (target->Origin() != ca->Origin()) {
    return absl::PermissionDeniedError(absl::StrCat(what, " \"", EscapeForError(url),
                                                    "\" is not on the CA's origin ", ca->Origin()));
  }
  return absl::OkStatus();
}

absl::StatusOr<JwsClassification> ClassifyJwsRequest(const JwsRequestContext& context,
                                                     const AgentPolicy& policy,
                                                     absl::string_view url,
                                                     absl::string_view payload) {
  ASSIGN_OR_RETURN(const std::string target_key, CheckedTargetKey(context, policy, url, payload));
  const CaDirectory& directory = context.directory;
  RETURN_IF_ERROR(RefuseAccountEndpoints(directory, policy, url, target_key));

  JwsClassification out;
  out.url = std::string(url);
  if (EndpointKeyOf(directory.new_order) == target_key) {
    RETURN_IF_ERROR(ClassifyNewOrder(policy, payload, out));
  } else if (EndpointKeyOf(directory.revoke_cert) == target_key) {
    RETURN_IF_ERROR(ClassifyRevokeCert(context, policy, url, payload, out));
  } else if (std::optional<KnownOrder> order = context.find_order_by_finalize_url(url)) {
    RETURN_IF_ERROR(ClassifyFinalize(context, policy, *order, url, payload, out));
  } else {
    RETURN_IF_ERROR(ClassifyOrderResource(context, policy, url, payload, out));
  }
  return out;
}

}  // namespace acme_signer::signer
