#include "agent/signer_tls_check.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/signer_target.h"
#include "common/files.h"
#include "common/sigpipe_guard.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

struct HostPort {
  std::string host;
  std::string port;
};

std::string NameText(const X509_NAME* name) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr) return "?";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  std::string text(data, static_cast<size_t>(length > 0 ? length : 0));
  return text.empty() ? "(empty subject)" : text;
}

// A TCP connection to the first address of `host:port` that accepts one within `timeout`.
UniqueFd ConnectTcp(const HostPort& target, absl::Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found) != 0) {
    return UniqueFd();
  }
  UniqueFd result;
  int tried = 0;
  for (addrinfo* ai = found; ai != nullptr && tried < 8; ai = ai->ai_next, ++tried) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         ai->ai_protocol));
    if (fd.get() < 0) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) continue;
      pollfd p{fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) continue;
      int error = 0;
      socklen_t length = sizeof(error);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        continue;
      }
    }
    // Blocking from here on, with the same bound on every read and write of the handshake.
    const int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    const timeval tv = absl::ToTimeval(timeout);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    result = std::move(fd);
    break;
  }
  ::freeaddrinfo(found);
  return result;
}

// The chain the signer presents (leaf first); empty when none could be fetched.
X509Stack FetchServerChain(const HostPort& target, const std::string& server_name,
                           absl::Duration timeout) {
  UniqueFd fd = ConnectTcp(target, timeout);
  if (fd.get() < 0) return nullptr;
  SslUniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Only the certificate is wanted: it is verified below, against the configured CA file.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  SslUniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl.get(), fd.get());
  SSL_set_tlsext_host_name(ssl.get(), server_name.c_str());
  ScopedSigpipeBlock no_sigpipe;  // the signer may close first; SSL_set_fd writes with write()
  ERR_clear_error();
  const bool completed = SSL_connect(ssl.get()) == 1;
  ERR_clear_error();
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
  X509Stack copy;
  if (chain != nullptr && sk_X509_num(chain) > 0) {
    copy.reset(sk_X509_new_null());
    for (int i = 0; copy != nullptr && i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      X509_up_ref(cert);
      sk_X509_push(copy.get(), cert);
    }
  }
  if (completed) SSL_shutdown(ssl.get());
  return copy;
}

// Whether the signer accepts this agent's certificate: a full handshake with it, then the
// HTTP/2 client preface and an empty SETTINGS frame. A signer that accepted the certificate
// answers with its own SETTINGS; one that refused it (revoked, another CA) closes the
// connection in or right after the handshake. nullopt when the probe could not be made (no
// connection, unreadable files): then nothing is concluded.
std::optional<bool> SignerAcceptsClientCertificate(const SignerConnection& connection,
                                                   const HostPort& target,
                                                   const std::string& server_name,
                                                   absl::Duration timeout) {
  UniqueFd fd = ConnectTcp(target, timeout);
  if (fd.get() < 0) return std::nullopt;
  SslUniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return std::nullopt;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // verified by the caller already
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), connection.client_cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), connection.client_key.c_str(), SSL_FILETYPE_PEM) !=
          1) {
    ERR_clear_error();
    return std::nullopt;
  }
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  SslUniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr) return std::nullopt;
  SSL_set_fd(ssl.get(), fd.get());
  SSL_set_tlsext_host_name(ssl.get(), server_name.c_str());
  // A signer that refuses the certificate closes the connection while we still write: EPIPE,
  // not a SIGPIPE that would kill the agent (SSL_set_fd writes with write()).
  ScopedSigpipeBlock no_sigpipe;
  // A step that ran out of time (SO_RCVTIMEO) proves nothing: a slow signer is not one that
  // refused us.
  auto timed_out = [&ssl](int result) {
    const int error = SSL_get_error(ssl.get(), result);
    const bool slow = error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ||
                      (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
    ERR_clear_error();
    return slow;
  };
  ERR_clear_error();
  errno = 0;
  if (const int result = SSL_connect(ssl.get()); result != 1) {
    if (timed_out(result)) return std::nullopt;
    return false;  // TLS 1.2: the server refuses the certificate inside the handshake
  }
  static constexpr char kPreface[] =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  const int preface_length = static_cast<int>(sizeof(kPreface) - 1);
  if (SSL_write(ssl.get(), kPreface, preface_length) != preface_length) {
    ERR_clear_error();
    return false;
  }
  char answer[64];
  errno = 0;
  const int n = SSL_read(ssl.get(), answer, sizeof(answer));
  if (n <= 0 && timed_out(n)) return std::nullopt;
  ERR_clear_error();
  if (n > 0) SSL_shutdown(ssl.get());
  return n > 0;
}

// CheckSignerCertificate for one address of the target.
absl::Status CheckOneReplica(const SignerConnection& connection, const HostPort& target,
                             const std::string& server_name, absl::Duration timeout) {
  X509Stack chain = FetchServerChain(target, server_name, timeout);
  if (chain == nullptr) return absl::OkStatus();  // really unreachable: not ours to explain
  X509* leaf = sk_X509_value(chain.get(), 0);

  absl::StatusOr<std::string> ca_pem = ReadFile(connection.ca_cert);
  if (!ca_pem.ok()) return absl::OkStatus();  // Connect() read it; a race is not ours either
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> anchors = ReadPemCertificates(*ca_pem);
  std::vector<std::string> anchor_names;
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr) return absl::OkStatus();
  if (anchors.ok()) {
    for (const SslUniquePtr<X509>& anchor : *anchors) {
      anchor_names.push_back(NameText(X509_get_subject_name(anchor.get())));
      X509_STORE_add_cert(store.get(), anchor.get());
    }
  }
  const std::string file_names =
      anchor_names.empty() ? "no certificate" : absl::StrJoin(anchor_names, "; ");
  SslUniquePtr<X509_STORE_CTX> verify(X509_STORE_CTX_new());
  if (verify == nullptr ||
      X509_STORE_CTX_init(verify.get(), store.get(), leaf, chain.get()) != 1) {
    return absl::OkStatus();
  }
  const std::string leaf_text = absl::StrCat(
      "the signer's certificate (", NameText(X509_get_subject_name(leaf)), ", issued by ",
      NameText(X509_get_issuer_name(leaf)), ")");
  if (X509_verify_cert(verify.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(verify.get());
    if (error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID) {
      return absl::FailedPreconditionError(absl::StrCat(
          leaf_text, " is refused: ", X509_verify_cert_error_string(error),
          "; the signer's operator must renew it (`acme-signer init` writes it)"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        leaf_text, " is not signed by ", file_names, " (", connection.ca_cert, ", [signer] ca): ",
        X509_verify_cert_error_string(error),
        "; set [signer] ca to the signer's agent CA certificate (server.agent_ca_cert on the "
        "signer host)"));
  }
  const bool is_ip = X509_check_ip_asc(leaf, server_name.c_str(), 0) == 1;
  if (!is_ip && X509_check_host(leaf, server_name.data(), server_name.size(), 0, nullptr) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        leaf_text, " does not name ", server_name,
        "; connect by a name it carries, or set [signer] tls_server_name"));
  }
  // The signer's side is fine; does it take this agent's certificate?
  if (SignerAcceptsClientCertificate(connection, target, server_name, timeout) == false) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the signer refused this agent's certificate (", connection.client_cert,
        ") in the TLS handshake: it has expired, was revoked (server.revoked_agent_certs or "
        "`acme-signer agents revoke`) or is not from the signer's agent CA; ask the signer's "
        "operator, and enrol this host again"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSignerCertificate(const SignerConnection& connection, absl::Duration timeout) {
  absl::StatusOr<SignerTarget> target = SignerTarget::Parse(connection.address);
  if (!target.ok()) return absl::OkStatus();  // Connect() refused it already
  absl::StatusOr<std::string> server_name = target->ServerName(connection.server_name);
  if (!server_name.ok()) return absl::OkStatus();
  // Every replica presents the same certificate name; the first one that can be reached and
  // shows a problem explains the failure. `timeout` bounds each step and, roughly, the whole
  // check: replicas that hang do not add up.
  const absl::Time deadline = absl::Now() + timeout;
  for (const SignerEndpoint& endpoint : target->endpoints()) {
    const absl::Duration left = std::min(timeout, deadline - absl::Now());
    if (left <= absl::ZeroDuration()) break;
    const HostPort address{endpoint.host, absl::StrCat(endpoint.port)};
    RETURN_IF_ERROR(CheckOneReplica(connection, address, *server_name, left));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::agent
