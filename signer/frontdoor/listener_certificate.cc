#include "signer/frontdoor/listener_certificate.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "http/url.h"
#include "signer/agent_ca.h"

namespace acme_signer::signer::frontdoor {
namespace {

// Key files are small; this bound only keeps a wrong path (a device, a huge file) from being
// read whole.
constexpr size_t kMaxPemFileBytes = 1 << 20;

// Whether `path` exists; errors other than "does not exist" (EACCES on a directory, ...) are
// returned, naming `key` and the path.
absl::StatusOr<bool> Exists(const std::string& path, absl::string_view key) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, absl::StrCat("acme_server.", key, " ", path));
}

absl::StatusOr<SslUniquePtr<EVP_PKEY>> ReadPrivateKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string raw, ReadFile(path, kMaxPemFileBytes));
  const Secret pem(std::move(raw));
  return ParsePrivateKeyPem(pem, absl::StrCat("acme_server.tls_private_key ", path));
}

// The certificate's names: the external URL's host first (it becomes the subject CN), then the
// loopback names, without duplicates.
absl::Status CollectNames(absl::string_view external_url, std::vector<std::string>& dns_names,
                          std::vector<std::string>& ip_addresses) {
  absl::StatusOr<http::Url> url = http::Url::Parse(external_url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("acme_server.external_url ", external_url, ": ", url.status().message()));
  }
  std::string host = url->host();
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || absl::StrContains(host, "%")) {
    return absl::InvalidArgumentError(
        absl::StrCat("acme_server.external_url ", external_url,
                     ": the host cannot be a name in the listener's certificate"));
  }
  unsigned char buffer[sizeof(struct in6_addr)];
  const bool is_ip = ::inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
                     ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
  auto add = [](std::vector<std::string>& names, std::string name) {
    for (const std::string& existing : names) {
      if (existing == name) return;
    }
    names.push_back(std::move(name));
  };
  add(is_ip ? ip_addresses : dns_names, host);
  add(dns_names, "localhost");
  add(ip_addresses, "127.0.0.1");
  add(ip_addresses, "::1");
  return absl::OkStatus();
}

absl::Status CheckExistingPair(const AcmeServerConfig& config) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(config.tls_certificate, kMaxPemFileBytes));
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(cert_pem);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("acme_server.tls_certificate ", config.tls_certificate,
                     " is not a PEM certificate: ", cert.status().message()));
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> key, ReadPrivateKey(config.tls_private_key));
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        "acme_server.tls_certificate ", config.tls_certificate,
        " is not a certificate for the key in acme_server.tls_private_key ", config.tls_private_key,
        " (the listener could not use them; supply a matching pair, or "
        "remove both files and run init again to have it make them)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> WriteNewTlsPrivateKey(const std::string& path) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return SslError(absl::StatusCode::kInternal, "cannot generate a TLS key");
  ASSIGN_OR_RETURN(const Secret pem, PrivateKeyToPem(key.get()));
  RETURN_IF_ERROR(WriteFileAtomically(path, pem.reveal(), 0600));
  return PublicKeyToDer(key.get());
}

absl::StatusOr<ListenerCertificateAction> EnsureListenerCertificate(
    const AcmeServerConfig& config, const hsm::JwsSigner& agent_ca_key,
    absl::string_view agent_ca_cert_pem) {
  ASSIGN_OR_RETURN(const bool have_cert, Exists(config.tls_certificate, "tls_certificate"));
  ASSIGN_OR_RETURN(const bool have_key, Exists(config.tls_private_key, "tls_private_key"));
  if (have_cert && have_key) {
    RETURN_IF_ERROR(CheckExistingPair(config));
    return ListenerCertificateAction::kKept;
  }
  if (have_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        "acme_server.tls_private_key ", config.tls_private_key,
        " exists but acme_server.tls_certificate ", config.tls_certificate,
        " does not: put the certificate for that key there, or remove the key file to have "
        "init make a new key and certificate"));
  }
  if (have_cert) {
    return absl::FailedPreconditionError(absl::StrCat(
        "acme_server.tls_certificate ", config.tls_certificate,
        " exists but acme_server.tls_private_key ", config.tls_private_key,
        " does not: put the certificate's key there, or remove the certificate file to have "
        "init make a new key and certificate"));
  }
  if (config.tls_certificate == config.tls_private_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("acme_server.tls_certificate and acme_server.tls_private_key are both ",
                     config.tls_certificate, ": init makes them as two files"));
  }
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  RETURN_IF_ERROR(CollectNames(config.external_url, dns_names, ip_addresses));

  ASSIGN_OR_RETURN(const std::string public_key, WriteNewTlsPrivateKey(config.tls_private_key));
  absl::Status written = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::string cert_pem,
                     IssueServerCertificate(agent_ca_key, agent_ca_cert_pem, public_key, dns_names,
                                            ip_addresses, kServerCertificateDays));
    return WriteFileAtomically(config.tls_certificate, cert_pem, 0644);
  }();
  if (!written.ok()) {
    // A key without its certificate would stop the next init; this one made it, so it goes.
    ::unlink(config.tls_private_key.c_str());
    return written;
  }
  return ListenerCertificateAction::kCreated;
}

}  // namespace acme_signer::signer::frontdoor
