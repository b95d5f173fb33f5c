// Fuzzes the SignJws classifier (signer/jws_request_classifier.h), the gate between an agent
// and the ACME account key. Input: "<url>\n<payload>". The context is a fixed CA at
// https://ca.test:14000 with two known orders (one of web1, one of web2) and known challenges;
// the policy is web1's: **.lab.test, SignJws allowed.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "fuzz/fuzz_support.h"
#include "signer/jws_request_classifier.h"

namespace acme_signer::signer {
namespace {

constexpr char kCa[] = "https://ca.test:14000";

const JwsRequestContext& Context() {
  static const JwsRequestContext* const context = [] {
    auto* c = new JwsRequestContext;
    const std::string ca = kCa;
    c->directory.directory_url = ca + "/dir";
    c->directory.new_nonce = ca + "/nonce-plz";
    c->directory.new_account = ca + "/sign-me-up";
    c->directory.new_order = ca + "/order-plz";
    c->directory.revoke_cert = ca + "/revoke-cert";
    c->directory.key_change = ca + "/rollover-account-key";
    c->directory.renewal_info = ca + "/draft-ietf-acme-ari-03/renewalInfo";
    c->directory.account_url = ca + "/my-account/1";
    c->account_public_key_der = fuzz::FixedKeySpkiDer();
    c->find_order_by_finalize_url = [ca](absl::string_view url) -> std::optional<KnownOrder> {
      if (url == ca + "/finalize-order/1") {
        return KnownOrder{ca + "/my-order/1",
                          std::string(url),
                          {{"dns", "a.lab.test"}, {"dns", "b.lab.test"}},
                          "web1"};
      }
      if (url == ca + "/finalize-order/2") {
        return KnownOrder{ca + "/my-order/2", std::string(url), {{"dns", "c.lab.test"}}, "web2"};
      }
      return std::nullopt;
    };
    c->find_resource = [ca](absl::string_view url) -> std::optional<OrderResource> {
      const std::string u(url);
      if (absl::StartsWith(url, ca + "/chalZ/web1-")) {
        return OrderResource{u, ca + "/my-order/1", "web1", OrderResourceKind::kChallenge};
      }
      if (absl::StartsWith(url, ca + "/chalZ/")) {
        return OrderResource{u, ca + "/my-order/2", "web2", OrderResourceKind::kChallenge};
      }
      if (absl::StartsWith(url, ca + "/authZ/")) {
        return OrderResource{u, ca + "/my-order/1", "web1", OrderResourceKind::kAuthorization};
      }
      if (url == ca + "/my-order/1") {
        return OrderResource{u, u, "web1", OrderResourceKind::kOrder};
      }
      return std::nullopt;
    };
    c->find_certificate_owner = [](absl::string_view sha256) -> std::optional<std::string> {
      // Every certificate whose hash starts with a digit is web1's: both answers get fuzzed.
      if (!sha256.empty() && sha256[0] >= '0' && sha256[0] <= '9') return "web1";
      return std::nullopt;
    };
    return c;
  }();
  return *context;
}

const AgentPolicy& Policy() {
  static const AgentPolicy* const policy = [] {
    auto* p = new AgentPolicy;
    p->name = "web1";
    p->allowed_names = {"**.lab.test"};
    p->allow_wildcard_certificates = true;
    p->key_types = {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"};
    p->allow_sign_jws = true;
    return p;
  }();
  return *policy;
}

}  // namespace
}  // namespace acme_signer::signer

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  const absl::string_view input = fuzz::AsText(data, size);
  const size_t newline = input.find('\n');
  const absl::string_view url = input.substr(0, newline);
  const absl::string_view payload =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);
  if (auto result = signer::ClassifyJwsRequest(signer::Context(), signer::Policy(), url, payload);
      result.ok()) {
    (void)signer::JwsRequestKindName(result->kind);
  }
  return 0;
}
