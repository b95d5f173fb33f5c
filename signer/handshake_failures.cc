#include "signer/handshake_failures.h"

#include <iostream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "signer/audit_record.h"
#include "signer/handshake_revocation.h"

namespace acme_signer::signer {
namespace {

std::string Bounded(absl::string_view text) {
  std::string out = absl::CHexEscape(text);
  if (out.size() > 300) out = absl::StrCat(out.substr(0, 300), "...");
  return out;
}

}  // namespace

std::string DescribeClientCertificate(const HandshakeFailure& failure) {
  std::vector<std::string> parts;
  if (!failure.subject.empty()) parts.push_back(absl::StrCat("subject ", Bounded(failure.subject)));
  if (!failure.identity.empty()) {
    parts.push_back(absl::StrCat("identity ", Bounded(failure.identity)));
  }
  if (!failure.cert_sha256.empty()) parts.push_back(absl::StrCat("sha256 ", failure.cert_sha256));
  return absl::StrJoin(parts, ", ");
}

HandshakeFailureLog::HandshakeFailureLog(Options options, RefusalBudget* refusals)
    : options_(std::move(options)), refusals_(refusals) {}

void HandshakeFailureLog::WriteLine(const std::string& line) const {
  if (options_.write_line) {
    options_.write_line(line);
  } else {
    std::cerr << line << std::endl;
  }
}

void HandshakeFailureLog::Report(const HandshakeFailure& failure) {
  HandshakeFailure described = failure;
  // The reason may name the fingerprint already (revoked): not twice.
  if (!failure.cert_sha256.empty() && absl::StrContains(failure.reason, failure.cert_sha256)) {
    described.cert_sha256.clear();
  }
  const std::string certificate = DescribeClientCertificate(described);
  const std::string what =
      certificate.empty()
          ? failure.reason
          : absl::StrCat(failure.reason, "; client certificate ", certificate);
  const std::string key = failure.cert_sha256.empty() ? absl::StrCat("reason:", failure.reason)
                                                      : absl::StrCat("cert:", failure.cert_sha256);
  const absl::Time now = options_.clock();
  uint64_t left_out = 0;
  bool log = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = clients_.find(key);
    if (it == clients_.end()) {
      if (clients_.size() >= options_.max_clients) {
        // Drop the clients whose interval has passed; if none, share one entry.
        absl::erase_if(clients_, [&](const auto& entry) {
          return now - entry.second.logged >= options_.interval;
        });
      }
      const std::string& slot = clients_.size() >= options_.max_clients ? std::string("overflow")
                                                                        : key;
      it = clients_.try_emplace(slot).first;
    }
    Client& client = it->second;
    if (now - client.logged >= options_.interval) {
      log = true;
      left_out = client.left_out;
      client.logged = now;
      client.left_out = 0;
    } else {
      ++client.left_out;
    }
  }
  if (log) {
    std::string line = absl::StrCat("acme-signer: TLS handshake refused: ", what);
    if (left_out > 0) {
      absl::StrAppend(&line, " (", left_out, " more from this client since its last line)");
    }
    absl::StrAppend(&line, " (one line per client and ",
                    absl::FormatDuration(options_.interval), "; every one is audited)");
    WriteLine(line);
  }
  if (refusals_ == nullptr) return;
  AuditRecord record;
  record.rpc = std::string(kHandshakeRpcName);
  record.decision = AuditDecision::kDeny;
  if (failure.verified) {
    record.agent = failure.agent;
    record.client_cert_sha256 = failure.cert_sha256;
    record.reason = failure.reason;
  } else {
    record.reason = absl::StrCat("TLS handshake refused: ", Bounded(what));
  }
  if (absl::Status recorded = refusals_->Refuse(record); !recorded.ok()) {
    // Refused either way; the audit log's failure is the service's to report (fail closed).
    std::cerr << "acme-signer: cannot audit a refused TLS handshake: " << recorded.message()
              << std::endl;
  }
}

std::string HandshakeFailureLog::ReasonFromGrpcLine(absl::string_view message) {
  if (absl::StrContains(message, kHandshakeVerifierMarker)) return "";
  const std::string lower = absl::AsciiStrToLower(message);
  if (absl::StrContains(lower, "did not return a certificate") ||
      absl::StrContains(lower, "no certificate")) {
    return "the client sent no certificate (an agent needs the certificate from its enrolment)";
  }
  if (absl::StrContains(lower, "unsupported protocol") ||
      absl::StrContains(lower, "wrong version number") ||
      absl::StrContains(lower, "version too low") ||
      absl::StrContains(lower, "no shared cipher")) {
    return "the client offered no TLS version or cipher the signer accepts (TLS 1.2 or newer)";
  }
  // "Handshake failed with fatal error SSL_ERROR_SSL: error:0A000126:SSL routines::unexpected
  // eof while reading." -> the text after the last "::" or ":".
  absl::string_view tail = message;
  if (size_t at = tail.rfind("::"); at != absl::string_view::npos) {
    tail = tail.substr(at + 2);
  } else if (size_t colon = tail.rfind(": "); colon != absl::string_view::npos) {
    tail = tail.substr(colon + 2);
  }
  tail = absl::StripSuffix(absl::StripAsciiWhitespace(tail), ".");
  return absl::StrCat("TLS error: ", Bounded(tail));
}

void HandshakeFailureLog::OnGrpcLogLine(const GrpcLogLine& line) {
  if (!IsHandshakeFailureLine(line)) {
    std::cerr << FormatGrpcLogLine("acme-signer", line) << std::endl;
    return;
  }
  // The security handshaker's and the TLS connector's lines restate what the transport line
  // said (or what the verifier reported); only ssl_transport_security's are counted.
  if (line.file != "ssl_transport_security.cc") return;
  const std::string reason = ReasonFromGrpcLine(line.message);
  if (reason.empty()) return;
  HandshakeFailure failure;
  failure.reason = reason;
  Report(failure);
}

}  // namespace acme_signer::signer
