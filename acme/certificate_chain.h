// Certificate chains as ACME delivers them (application/pem-certificate-chain, RFC 8555
// §7.4.2): parsing, the facts callers need (serial, notAfter, topmost issuer), and choosing
// among the default and alternate chains by the issuer's common name.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_CERTIFICATE_CHAIN_H_
#define ACME_SIGNER_ACME_CERTIFICATE_CHAIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace acme_signer::acme {

struct CertificateChain {
  std::string url;        // where it was downloaded from
  std::string pem_chain;  // leaf first, then issuers, exactly as received
  // Facts read from the chain:
  std::string leaf_der;
  std::string serial_hex;          // leaf serial, lowercase hex, no separators
  absl::Time not_before;           // leaf notBefore
  absl::Time not_after;            // leaf notAfter
  std::string issuer_common_name;  // CN of the issuer of the topmost certificate in the chain
};

// Parses a PEM chain: one or more CERTIFICATE blocks and nothing else but whitespace.
// InvalidArgument (naming the block number) for an empty chain, a non-certificate PEM block,
// unparsable certificates or trailing garbage.
absl::StatusOr<CertificateChain> ParsePemChain(absl::string_view pem, absl::string_view url);

// The DER certificates of a PEM chain, leaf first. Same errors as ParsePemChain.
absl::StatusOr<std::vector<std::string>> PemChainToDer(absl::string_view pem);

// Chooses the chain whose topmost issuer CN equals `preferred_issuer_cn` (exact match, like
// certbot's --preferred-chain); with no match or an empty preference, the first chain (the
// CA's default). `chains` must not be empty.
size_t SelectChain(absl::Span<const CertificateChain> chains,
                   absl::string_view preferred_issuer_cn);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_CERTIFICATE_CHAIN_H_
