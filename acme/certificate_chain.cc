#include "acme/certificate_chain.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

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
  if (len < 0) return "";
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owner(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
}

absl::StatusOr<absl::Time> AsnTimeToTime(const ASN1_TIME* time) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (ASN1_TIME_to_tm(time, &tm) != 1) {
    return absl::InvalidArgumentError("certificate has an unreadable validity time");
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::vector<std::string>> PemChainToDer(absl::string_view pem) {
  std::vector<std::string> ders;
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
    SslUniquePtr<BIO> bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
    if (bio == nullptr) return SslError(absl::StatusCode::kInternal, "BIO_new_mem_buf");
    SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) {
      return SslError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("certificate chain block ", number, " is not a certificate"));
    }
    unsigned char* der = nullptr;
    const int der_len = i2d_X509(cert.get(), &der);
    if (der_len <= 0) return SslError(absl::StatusCode::kInternal, "i2d_X509");
    std::unique_ptr<unsigned char, OpenSslFreeDeleter> der_owner(der);
    ders.emplace_back(reinterpret_cast<const char*>(der), static_cast<size_t>(der_len));
  }
  if (ders.empty()) {
    return absl::InvalidArgumentError("certificate chain contains no certificate");
  }
  return ders;
}

absl::StatusOr<CertificateChain> ParsePemChain(absl::string_view pem, absl::string_view url) {
  ASSIGN_OR_RETURN(std::vector<std::string> ders, PemChainToDer(pem));
  auto parse = [](const std::string& der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    return SslUniquePtr<X509>(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  };
  SslUniquePtr<X509> leaf = parse(ders.front());
  SslUniquePtr<X509> top = parse(ders.back());
  if (leaf == nullptr || top == nullptr) {
    return SslError(absl::StatusCode::kInternal, "re-parsing a certificate");
  }
  CertificateChain chain;
  chain.url = std::string(url);
  chain.pem_chain = std::string(pem);
  chain.leaf_der = ders.front();
  SslUniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf.get()), nullptr));
  if (serial == nullptr) return SslError(absl::StatusCode::kInvalidArgument, "certificate serial");
  std::unique_ptr<char, OpenSslFreeDeleter> hex(BN_bn2hex(serial.get()));
  if (hex == nullptr) return SslError(absl::StatusCode::kInternal, "BN_bn2hex");
  chain.serial_hex = absl::AsciiStrToLower(hex.get());
  ASSIGN_OR_RETURN(chain.not_after, AsnTimeToTime(X509_get0_notAfter(leaf.get())));
  chain.issuer_common_name = CommonName(X509_get_issuer_name(top.get()));
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
