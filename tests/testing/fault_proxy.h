// FaultProxy: a hostile-CA test server. An HTTPS reverse proxy on 127.0.0.1:<free port> that
// forwards every request to a real ACME server (Pebble) and, on the test's command, answers
// some of them itself: an error status (500, 503) with an optional Retry-After and problem
// document, garbage with a JSON content type, a connection closed without an answer, no
// answer at all (a hang, until released or the proxy stops), or the upstream's own answer
// with its body rewritten (e.g. an order kept `processing`: a slow CA).
//
// Put it between acme-signer and Pebble: the signer's acme.directory_url = directory_url(),
// acme.ca_bundle = ca_bundle_path() (a self-signed certificate for 127.0.0.1 made at Start).
// Requests go upstream with the proxy's Host header, so Pebble builds every URL it returns on
// the proxy's origin and the JWS "url" checks pass; any upstream origin left in a body or in
// a Location/Link header is rewritten to the proxy's origin anyway.
//
// HTTP/1.1, one request per connection (the answer says Connection: close; libcurl copes).
// Upstream requests use http::CurlHttpClient trusting the upstream's CA bundle.
//
// Thread-safety: every public method may be called from any thread while the proxy serves.
// Connections are served on their own threads; the destructor releases hangs, closes every
// connection and joins every thread.
#ifndef ACME_SIGNER_TESTS_TESTING_FAULT_PROXY_H_
#define ACME_SIGNER_TESTS_TESTING_FAULT_PROXY_H_

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"
#include "http/curl_http_client.h"

namespace acme_signer::testing {

// What the proxy does instead of (or after) forwarding one request.
struct Fault {
  enum class Kind {
    kStatus,   // answer `status` with `retry_after` and `body` (content type `content_type`)
    kGarbage,  // answer 200, application/json, a body that is not JSON
    kClose,    // close the connection without a byte of answer
    kHang,     // read the request, answer nothing until ReleaseHangs() or the proxy stops
    kRewrite,  // forward, then replace every `rewrite_from` by `rewrite_to` in the answer's body
  };
  Kind kind = Kind::kStatus;
  int status = 503;
  std::string retry_after;  // Retry-After header value; empty = no header
  std::string body;
  std::string content_type = "application/problem+json";
  // Forward the request first (the CA acts on it), then replace its answer: "the CA did it,
  // the client never heard".
  bool forward_first = false;
  // kRewrite only. The status and headers of the upstream's answer are kept (Content-Length
  // is recomputed); an upstream failure (502) is passed on unchanged.
  std::string rewrite_from;
  std::string rewrite_to;

  // `status` with a problem document of ACME error `acme_error` (e.g. "serverInternal") and
  // `detail`; no body when `acme_error` is empty.
  static Fault Status(int status, absl::string_view retry_after = "",
                      absl::string_view acme_error = "", absl::string_view detail = "");
  static Fault Garbage();
  static Fault Close();
  static Fault Hang();
  // Forwards the request and replaces every occurrence of `from` (non-empty) by `to` in the
  // body of the upstream's answer, e.g. Rewrite(R"("status": "valid")",
  // R"("status": "processing")") on Pebble's order answers: a CA that stays processing.
  static Fault Rewrite(absl::string_view from, absl::string_view to);
};

// One request the proxy saw.
struct ProxiedRequest {
  std::string method;
  std::string path;
  int status = 0;          // what the client got; 0 when nothing (close, hang)
  bool faulted = false;    // answered (or not) by a fault rather than by the upstream
  bool bad_nonce = false;  // the upstream rejected it with badNonce
  bool rewritten = false;  // a kRewrite fault replaced at least one occurrence in its body
  std::string upstream;    // the upstream origin it was forwarded to; empty when not forwarded
};

class FaultProxy {
 public:
  struct Options {
    // https://127.0.0.1:<port> of the upstream ACME server.
    std::string upstream_origin;
    // Further origins of the same server (its replicas, e.g. signer front doors sharing one
    // database): requests go to upstream_origin and these in turn, one request each (round
    // robin), as a load balancer would send them. All must be verified by upstream_ca_bundle.
    std::vector<std::string> more_upstream_origins;
    // PEM bundle that verifies the upstream's TLS certificate.
    std::string upstream_ca_bundle;
    // Bound on each upstream request.
    absl::Duration upstream_timeout = absl::Seconds(30);
  };

  // Makes the certificate (in a fresh temp dir), binds 127.0.0.1:0 and starts serving.
  // Errors: InvalidArgument (bad options), Internal (TLS setup, socket, temp dir).
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(Options options);

  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // https://127.0.0.1:<port>
  const std::string& origin() const { return origin_; }
  // origin() + "/dir"
  std::string directory_url() const { return origin_ + "/dir"; }
  // PEM of the proxy's self-signed TLS certificate: the client's CA bundle.
  const std::string& ca_bundle_path() const { return cert_path_; }

  // The next `times` requests whose path contains `path_substring` ("" = any) get `fault`.
  // Rules are tried in the order they were added; the first with requests left applies.
  void Inject(absl::string_view path_substring, Fault fault, int times = 1);
  // Every request whose path contains `path_substring` ("" = any) gets `fault` for
  // `duration` from now (however many there are); then the rule lapses. Tried in order with
  // the Inject rules.
  void InjectFor(absl::string_view path_substring, Fault fault, absl::Duration duration);
  // Drops every rule not used up yet (hangs already in progress continue: ReleaseHangs).
  void ClearFaults();
  // Lets every hanging connection go (closed without an answer).
  void ReleaseHangs();
  // Requests hanging right now.
  int hanging() const;
  // Blocks until at least `n` requests hang or `timeout` passes; true when they do.
  bool WaitForHanging(int n, absl::Duration timeout) const;

  // Every request so far, in the order they were answered (a hang: when it began).
  std::vector<ProxiedRequest> Requests() const;
  // Requests whose path contains `path_substring` (and method equals `method`, when given).
  int CountRequests(absl::string_view path_substring, absl::string_view method = "") const;
  int CountFaulted(absl::string_view path_substring) const;
  // Requests whose path contains `path_substring` and whose answer a kRewrite fault changed.
  int CountRewritten(absl::string_view path_substring) const;
  // Upstream answers that were badNonce rejections.
  int CountBadNonce() const;

 private:
  struct Rule {
    std::string path_substring;
    Fault fault;
    int remaining;                    // uses left; ignored for a rule with `until`
    std::optional<absl::Time> until;  // InjectFor: applies to every request before this
  };
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  explicit FaultProxy(Options options) : options_(std::move(options)) {}
  absl::Status Init();
  void AcceptLoop();
  void Serve(int fd);
  // The fault for a request on `path`, consuming one use of its rule; nullopt = forward.
  std::optional<Fault> TakeFault(absl::string_view path);
  void Record(ProxiedRequest request);
  std::string Rewrite(absl::string_view text) const;
  void ReapFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(threads_mu_);

  const Options options_;
  std::string dir_;
  std::string cert_path_;
  std::string origin_;
  std::string host_;  // 127.0.0.1:<port>, the Host header sent upstream
  SslUniquePtr<SSL_CTX> ssl_ctx_;
  std::unique_ptr<http::CurlHttpClient> upstream_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> next_upstream_{0};  // round robin over the upstream origins
  std::thread acceptor_;

  mutable absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<ProxiedRequest> log_ ABSL_GUARDED_BY(mu_);
  std::set<int> open_fds_ ABSL_GUARDED_BY(mu_);
  int hanging_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t release_generation_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex threads_mu_;
  std::list<Connection> connections_ ABSL_GUARDED_BY(threads_mu_);
};

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_FAULT_PROXY_H_
