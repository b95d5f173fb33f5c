#include "acme/certificate_chain.h"

#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::acme {
namespace {

constexpr absl::string_view kBegin = "-----BEGIN CERTIFICATE-----";
constexpr absl::string_view kEnd = "-----END CERTIFICATE-----";
// More certificates than any real chain; bounds work on hostile input.
constexpr size_t kMaxCertificates = 10;

std::string CommonName(const X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  OpenSslBytes owner(utf8);
  if (len < 0) return "";
  return std::string(AsStringView(utf8, static_cast<size_t>(len)));
}

}  // namespace

namespace {

// The certificates of a PEM chain, parsed, with their DER, leaf first (PemChainToDer's rules).
struct ParsedChain {
  std::vector<SslUniquePtr<X509>> certs;
  std::vector<std::string> ders;
};

absl::StatusOr<ParsedChain> ParseChain(absl::string_view pem) {
  ParsedChain parsed;
  std::vector<std::string>& ders = parsed.ders;
  absl::string_view rest = pem;
  while (true) {
    rest = absl::StripLeadingAsciiWhitespace(rest);
    if (rest.empty()) break;
    const size_t number = ders.size() + 1;
    if (!absl::StartsWith(rest, kBegin)) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate chain block ", number,
                       " is not a PEM CERTIFICATE (unexpected text or another PEM type)"));
    }
    const size_t end = rest.find(kEnd);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate chain block ", number, " has no END CERTIFICATE line"));
    }
    if (ders.size() == kMaxCertificates) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate chain has more than ", kMaxCertificates, " certificates"));
    }
    absl::string_view block = rest.substr(0, end + kEnd.size());
    rest.remove_prefix(block.size());
    absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(block);
    if (!cert.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate chain block ", number, " is not a certificate: ", cert.status().message()));
    }
    ASSIGN_OR_RETURN(std::string der, CertificateToDer(**cert));
    ders.push_back(std::move(der));
    parsed.certs.push_back(*std::move(cert));
  }
  if (ders.empty()) {
    return absl::InvalidArgumentError("certificate chain contains no certificate");
  }
  return parsed;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> PemChainToDer(absl::string_view pem) {
  ASSIGN_OR_RETURN(ParsedChain parsed, ParseChain(pem));
  return std::move(parsed.ders);
}

absl::StatusOr<CertificateChain> ParsePemChain(absl::string_view pem, absl::string_view url) {
  // Each certificate is decoded once: with OpenSSL 3 a decode costs ~0.1 ms (its public key
  // goes through the provider decoders), and the signer parses every chain it relays.
  ASSIGN_OR_RETURN(ParsedChain parsed, ParseChain(pem));
  const X509& leaf = *parsed.certs.front();
  const X509& top = *parsed.certs.back();
  CertificateChain chain;
  chain.url = std::string(url);
  chain.pem_chain = std::string(pem);
  chain.leaf_der = std::move(parsed.ders.front());
  ASSIGN_OR_RETURN(chain.serial_hex, SerialHex(leaf));
  ASSIGN_OR_RETURN(chain.not_before, NotBefore(leaf));
  ASSIGN_OR_RETURN(chain.not_after, NotAfter(leaf));
  chain.issuer_common_name = CommonName(X509_get_issuer_name(&top));
  return chain;
}

size_t SelectChain(absl::Span<const CertificateChain> chains,
                   absl::string_view preferred_issuer_cn) {
  if (preferred_issuer_cn.empty()) return 0;
  for (size_t i = 0; i < chains.size(); ++i) {
    if (chains[i].issuer_common_name == preferred_issuer_cn) return i;
  }
  return 0;
}

}  // namespace acme_signer::acme
