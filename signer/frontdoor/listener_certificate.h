// The TLS certificate and key of the front door's HTTPS listener ([acme_server] tls_certificate
// and tls_private_key), made by `acme-signer init` when the operator has not supplied them.
//
// What init makes: a fresh EC P-256 key generated in software (OpenSSL; the listener hands it
// to OpenSSL as a PEM file, so it cannot be an HSM key), written as unencrypted PKCS#8 PEM with
// mode 0600, and a certificate for it issued by the agent CA (the HSM-held key of
// signer/agent_ca.h, its server profile: the same path as the gRPC server's certificate), valid
// kServerCertificateDays (clamped to the CA certificate). Its names are the host of
// external_url plus localhost, 127.0.0.1 and ::1, so a client reaching the listener on loopback
// verifies it too. Clients trust it through the agent CA certificate ([server] agent_ca_cert),
// which the lab publishes as ACME_SERVER_CA.
//
// Existing files are never replaced: an operator may supply a certificate from another CA.
//
// Thread-safety: the functions are thread-safe (as far as the JwsSigner is); two processes
// making the same files at once may both write them (last rename wins: a complete pair of
// either, or a mismatch that the next init reports), which init, an operator command run once,
// does not guard against.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_LISTENER_CERTIFICATE_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_LISTENER_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/jws_signer.h"
#include "signer/config.h"

namespace acme_signer::signer::frontdoor {

// Validity, in days, of the TLS server certificates init issues from the agent CA (the gRPC
// server's and the front door's): 825 days, the longest the CA/Browser Forum ever allowed, so
// stock TLS stacks accept it.
inline constexpr int kServerCertificateDays = 825;

enum class ListenerCertificateAction {
  kKept,     // both files existed; their key pair was checked and left as it is
  kCreated,  // both files were absent; a new key and certificate were written
};

// Makes the listener's key and certificate when neither file exists; when both exist, checks
// that the first certificate in tls_certificate is for the key in tls_private_key and keeps
// them. `agent_ca_key` signs (in the HSM), `agent_ca_cert_pem` is its CA certificate.
//
// Errors:
//  - FailedPrecondition when only one of the two files exists (a key without its certificate
//    or the reverse: the message names both paths and how to resolve it), or when the existing
//    certificate is not for the existing key;
//  - InvalidArgument when external_url has no usable host (or an IPv6 zone id), when both
//    settings name the same file while it has to be made, or when an existing file is not a
//    PEM certificate / unencrypted PEM private key (the message names the path, never the
//    content);
//  - the errno errors of reading, writing and stat'ing (e.g. NotFound for a missing directory),
//    naming the path;
//  - the errors of IssueServerCertificate (signer/agent_ca.h) as they are.
// When issuing or writing the certificate fails after the key was written, the new key file
// is removed again, so the next init starts afresh.
absl::StatusOr<ListenerCertificateAction> EnsureListenerCertificate(
    const AcmeServerConfig& config, const hsm::JwsSigner& agent_ca_key,
    absl::string_view agent_ca_cert_pem);

// Generates a fresh EC P-256 key in software and writes it to `path` as unencrypted PKCS#8
// PEM, atomically (common/files.h WriteFileAtomically: a 0600 temporary file, fsync, rename),
// mode 0600, replacing what is there. Returns the key's SubjectPublicKeyInfo (DER). The PEM is
// held in a wiping Secret and never logged. init uses it for both of the signer's listeners
// (the gRPC server and the front door). Errors: Internal from OpenSSL, or the write's errno
// error naming the path.
absl::StatusOr<std::string> WriteNewTlsPrivateKey(const std::string& path);

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_LISTENER_CERTIFICATE_H_
