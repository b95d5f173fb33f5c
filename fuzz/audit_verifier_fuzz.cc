// Fuzzes the offline audit log verifier (signer/audit_verifier.h): the input is written to a
// temp file that VerifyAuditLog then checks against the fixed fuzz key, once without and once
// with an expected checkpoint reference. A tampered log must give a report, never a crash.
//
// Seeds: with ACME_SIGNER_FUZZ_WRITE_AUDIT_SEEDS=DIR the binary writes a few genuine logs
// (signed by the fixed key through signer::AuditLog) into DIR and exits. That is how
// fuzz/corpus/audit_verifier_fuzz/ was made (ECDSA signatures are randomized, so the files are
// committed rather than regenerated on every run).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/crypto.h"
#include "fuzz/fuzz_support.h"
#include "signer/audit_log.h"
#include "signer/audit_verifier.h"

namespace acme_signer::signer {
namespace {

std::string* g_path = nullptr;

void WriteSeedLog(const std::string& path, int events, uint64_t interval) {
  std::filesystem::remove(path);
  static const fuzz::FixedKeySigner signer;
  AuditLogOptions options;
  options.path = path;
  options.checkpoint_interval = interval;
  auto log = AuditLog::Open(options, &signer);
  if (!log.ok()) {
    std::fprintf(stderr, "audit seed %s: %s\n", path.c_str(), log.status().ToString().c_str());
    std::exit(1);
  }
  for (int i = 0; i < events; ++i) {
    AuditRecord record;
    record.agent = i % 2 == 0 ? "web1" : "web2";
    record.client_cert_sha256 = Sha256Hex(record.agent);
    record.peer = "ipv4:127.0.0.1:5555";
    record.rpc = i % 3 == 0 ? "SignJws" : "NewOrder";
    record.request.identifiers = {Identifier::Dns("host" + std::to_string(i) + ".lab.test")};
    record.request.url = "https://ca.test:14000/acme/new-order";
    record.decision = i % 3 == 0 ? AuditDecision::kDeny : AuditDecision::kAllow;
    record.reason = i % 3 == 0 ? "name \"\\u00e9x\" not allowed" : "policy";
    record.outcome.acme_status = "pending";
    if (!(*log)->Append(record).ok()) std::exit(1);
  }
  if (!(*log)->Close().ok()) std::exit(1);
}

void WriteSeedsAndExit(const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteSeedLog(dir + "/one-event", 1, 1);
  WriteSeedLog(dir + "/three-events", 3, 2);
  WriteSeedLog(dir + "/ten-events", 10, 4);
  std::exit(0);
}

}  // namespace
}  // namespace acme_signer::signer

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  using namespace acme_signer;
  if (const char* dir = std::getenv("ACME_SIGNER_FUZZ_WRITE_AUDIT_SEEDS")) {
    signer::WriteSeedsAndExit(dir);
  }
  char path[] = "/tmp/audit_verifier_fuzz.XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) std::abort();
  close(fd);
  signer::g_path = new std::string(path);
  // Removed at normal exit; a crash leaves one small file in /tmp.
  std::atexit([] { std::remove(signer::g_path->c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  {
    std::ofstream out(*signer::g_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  signer::AuditVerifyOptions options;
  options.public_key_der = fuzz::FixedKeySpkiDer();
  if (auto report = signer::VerifyAuditLog({*signer::g_path}, options); report.ok()) {
    (void)report->Summary();
  }
  options.expected_checkpoint = signer::AuditCheckpointRef{
      5, "0000000000000000000000000000000000000000000000000000000000000005"};
  (void)signer::VerifyAuditLog({*signer::g_path}, options);
  return 0;
}
