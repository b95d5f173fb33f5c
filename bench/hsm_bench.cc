// ES256 signing throughput: through PKCS#11 (p11-kit -> SoftHSM2, hsm::Token) against plain
// OpenSSL EVP in the same process, with and without verify-after-sign, on 1 and 2 threads.
// At the end it prints the PKCS#11/OpenSSL ratios (target: >= 0.5).
//
// Run from a Release build: build/hsm-release/bench/hsm_bench
#include <benchmark/benchmark.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "common/ssl_unique_ptr.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "tests/testing/softhsm_token.h"

namespace {

using acme_signer::SslUniquePtr;
using acme_signer::hsm::JwsSigner;
using acme_signer::hsm::KeyType;
using acme_signer::hsm::Module;
using acme_signer::hsm::Token;

// A typical ACME JWS signing input (protected header + payload, base64url).
const std::string kSigningInput =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Imh0dHBzOi8vYWNtZS5leGFtcGxlL2FjY3QvMTIzIiwibm9uY2UiOiJhYmMiLC"
    "J1cmwiOiJodHRwczovL2FjbWUuZXhhbXBsZS9uZXctb3JkZXIifQ.eyJpZGVudGlmaWVycyI6W3sidHlwZSI6ImRucyIs"
    "InZhbHVlIjoid3d3LmV4YW1wbGUuY29tIn1dfQ";

struct Setup {
  std::shared_ptr<Module> module;
  std::shared_ptr<Token> token;            // verify_every_signature = false
  std::shared_ptr<Token> verifying_token;  // same token, verify_every_signature = true
  std::unique_ptr<JwsSigner> signer;
  std::unique_ptr<JwsSigner> verifying_signer;
  SslUniquePtr<EVP_PKEY> openssl_key;
};

Setup* g_setup = nullptr;

void Fail(const std::string& what) {
  std::fprintf(stderr, "hsm_bench setup failed: %s\n", what.c_str());
  std::exit(1);
}

void SetUp() {
  auto info = acme_signer::testing::CreateSoftHsmToken("bench");
  if (!info.ok()) Fail(info.status().ToString());
  g_setup = new Setup;
  auto module = Module::Load(acme_signer::testing::kSoftHsmModule);
  if (!module.ok()) Fail(module.status().ToString());
  g_setup->module = *module;
  auto token = Token::Open(g_setup->module, info->uri, info->pin_file);
  if (!token.ok()) Fail(token.status().ToString());
  g_setup->token = *token;
  Token::Options verify;
  verify.verify_every_signature = true;
  auto verifying = Token::Open(g_setup->module, info->uri, info->pin_file, verify);
  if (!verifying.ok()) Fail(verifying.status().ToString());
  g_setup->verifying_token = *verifying;
  auto signer = g_setup->token->GenerateSigningKey("pkcs11:object=bench-key", KeyType::kEcP256);
  if (!signer.ok()) Fail(signer.status().ToString());
  g_setup->signer = *std::move(signer);
  auto verifying_signer = g_setup->verifying_token->OpenSigningKey("pkcs11:object=bench-key");
  if (!verifying_signer.ok()) Fail(verifying_signer.status().ToString());
  g_setup->verifying_signer = *std::move(verifying_signer);
  g_setup->openssl_key.reset(EVP_EC_gen("P-256"));
  if (g_setup->openssl_key == nullptr) Fail("EVP_EC_gen");
}

void BM_Es256Pkcs11(benchmark::State& state) {
  for (auto _ : state) {
    auto signature = g_setup->signer->Sign(kSigningInput);
    if (!signature.ok()) state.SkipWithError(signature.status().ToString().c_str());
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Es256Pkcs11)->Threads(1)->Threads(2)->UseRealTime();

void BM_Es256Pkcs11VerifyEverySignature(benchmark::State& state) {
  for (auto _ : state) {
    auto signature = g_setup->verifying_signer->Sign(kSigningInput);
    if (!signature.ok()) state.SkipWithError(signature.status().ToString().c_str());
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Es256Pkcs11VerifyEverySignature)->Threads(1)->Threads(2)->UseRealTime();

// The SoftHSM2 floor: SHA-256 + C_SignInit + C_Sign on one session with a known handle, no
// session pool, no handle cache, no retries. The gap to BM_Es256Pkcs11 is hsm::Token's cost.
void BM_Es256RawPkcs11(benchmark::State& state) {
  CK_FUNCTION_LIST* f = g_setup->module->functions();
  CK_SESSION_HANDLE session;
  if (f->C_OpenSession(g_setup->token->slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session) !=
      CKR_OK) {
    state.SkipWithError("C_OpenSession failed");
    return;
  }
  char label[] = "bench-key";
  CK_OBJECT_CLASS object_class = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, label, sizeof(label) - 1},
                         {CKA_CLASS, &object_class, sizeof(object_class)}};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_ULONG count = 0;
  f->C_FindObjectsInit(session, tmpl, 2);
  f->C_FindObjects(session, &key, 1, &count);
  f->C_FindObjectsFinal(session);
  CK_MECHANISM mechanism = {CKM_ECDSA, nullptr, 0};
  for (auto _ : state) {
    unsigned char digest[32];
    unsigned int digest_size = 0;
    EVP_Digest(kSigningInput.data(), kSigningInput.size(), digest, &digest_size, EVP_sha256(),
               nullptr);
    unsigned char signature[64];
    CK_ULONG size = sizeof(signature);
    if (count != 1 || f->C_SignInit(session, &mechanism, key) != CKR_OK ||
        f->C_Sign(session, digest, digest_size, signature, &size) != CKR_OK) {
      state.SkipWithError("raw C_Sign failed");
      break;
    }
    benchmark::DoNotOptimize(signature);
  }
  f->C_CloseSession(session);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Es256RawPkcs11)->UseRealTime();

// The same work in plain OpenSSL: SHA-256 + ECDSA P-256 (DER signature; the r||s conversion
// is negligible next to the ECDSA operation).
void BM_Es256OpenSsl(benchmark::State& state) {
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  unsigned char signature[80];
  for (auto _ : state) {
    size_t size = sizeof(signature);
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, g_setup->openssl_key.get()) !=
            1 ||
        EVP_DigestSign(ctx.get(), signature, &size,
                       reinterpret_cast<const unsigned char*>(kSigningInput.data()),
                       kSigningInput.size()) != 1) {
      state.SkipWithError("EVP_DigestSign failed");
    }
    benchmark::DoNotOptimize(signature);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Es256OpenSsl)->Threads(1)->Threads(2)->UseRealTime();

// Prints the usual table, then the PKCS#11/OpenSSL throughput ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      // With --benchmark_repetitions the median aggregate (reported after the repetitions)
      // replaces the single runs; other aggregates (mean, stddev, cv) are not rates to compare.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates_[run.run_name.str()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    for (const char* threads : {"threads:1", "threads:2"}) {
      const double openssl = Rate("BM_Es256OpenSsl", threads);
      if (openssl <= 0) continue;
      std::printf("ratio PKCS#11/OpenSSL ES256 (%s): %.2f; with verify-after-sign: %.2f\n", threads,
                  Rate("BM_Es256Pkcs11", threads) / openssl,
                  Rate("BM_Es256Pkcs11VerifyEverySignature", threads) / openssl);
    }
    const double raw = rates_["BM_Es256RawPkcs11/real_time"];
    if (raw > 0) {
      std::printf("ratio hsm::Token/raw PKCS#11 (threads:1): %.2f; raw PKCS#11/OpenSSL: %.2f\n",
                  Rate("BM_Es256Pkcs11", "threads:1") / raw,
                  raw / Rate("BM_Es256OpenSsl", "threads:1"));
    }
  }

 private:
  double Rate(const std::string& name, const std::string& threads) {
    auto it = rates_.find(name + "/real_time/" + threads);
    return it == rates_.end() ? 0 : it->second;
  }
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SetUp();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  delete g_setup;  // Signers and tokens first, then the module (finalized last).
  return 0;
}
