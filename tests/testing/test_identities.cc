#include "tests/testing/test_identities.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "common/files.h"

namespace acme_signer::testing {
namespace {

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

std::string PemOf(X509* cert) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioContents(bio.get());
}

std::string KeyPemOf(EVP_PKEY* key) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioContents(bio.get());
}

SslUniquePtr<X509> MakeCertificate(EVP_PKEY* subject_key, absl::string_view subject_cn,
                                   X509* issuer, EVP_PKEY* issuer_key, long not_before,
                                   long not_after,
                                   const std::vector<std::pair<int, std::string>>& extensions) {
  SslUniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4343);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(std::string(subject_cn).c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (ext == nullptr || X509_add_ext(cert.get(), ext.get(), -1) != 1) return nullptr;
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

std::vector<std::pair<int, std::string>> AgentLeafExtensions(absl::string_view uri) {
  return {{NID_basic_constraints, "critical,CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, "clientAuth"},
          {NID_subject_alt_name, absl::StrCat("URI:", uri)}};
}

std::optional<TestIdentity> MakeSelfSignedIdentity(absl::string_view uri) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return std::nullopt;
  SslUniquePtr<X509> leaf = MakeCertificate(key.get(), "web1", nullptr, key.get(), -3600, 24 * 3600,
                                            AgentLeafExtensions(uri));
  if (leaf == nullptr) return std::nullopt;
  return TestIdentity{PemOf(leaf.get()), KeyPemOf(key.get())};
}

std::optional<TestIdentity> MakeIdentityFromTestCa(absl::string_view uri, absl::string_view ca_cn,
                                                   long not_before, long not_after) {
  SslUniquePtr<EVP_PKEY> ca_key(EVP_EC_gen("P-256"));
  SslUniquePtr<EVP_PKEY> leaf_key(EVP_EC_gen("P-256"));
  if (ca_key == nullptr || leaf_key == nullptr) return std::nullopt;
  SslUniquePtr<X509> ca = MakeCertificate(
      ca_key.get(), ca_cn, nullptr, ca_key.get(), -30 * 24 * 3600, 30 * 24 * 3600,
      {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}});
  if (ca == nullptr) return std::nullopt;
  SslUniquePtr<X509> leaf = MakeCertificate(leaf_key.get(), "web1", ca.get(), ca_key.get(),
                                            not_before, not_after, AgentLeafExtensions(uri));
  if (leaf == nullptr) return std::nullopt;
  return TestIdentity{absl::StrCat(PemOf(leaf.get()), PemOf(ca.get())), KeyPemOf(leaf_key.get())};
}

grpc::Status RawGetAccount(const SignerLab& lab, const std::string& cert_pem,
                           const std::string& key_pem) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(lab.agent_ca_path()).value_or("");
  ssl.pem_cert_chain = cert_pem;
  ssl.pem_private_key = key_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("127.0.0.1");
  auto channel = grpc::CreateCustomChannel(lab.signer_address(), grpc::SslCredentials(ssl), args);
  auto stub = ::acmesigner::v1::Signer::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ::acmesigner::v1::GetAccountResponse response;
  return stub->GetAccount(&context, ::acmesigner::v1::GetAccountRequest(), &response);
}

}  // namespace acme_signer::testing
