// acme-signer init: create (once) everything the signer needs, idempotently.
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cli.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "http/host_port.h"
#include "signer/account_rollover.h"
#include "signer/account_set.h"
#include "signer/agent_ca.h"
#include "signer/audit_log.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/frontdoor/credentials.h"
#include "signer/frontdoor/listener_certificate.h"
#include "signer/frontdoor/network_allowlist.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"

namespace acme_signer::signer {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Opens the signing key at `uri`, generating it in the token when absent.
absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> OpenOrGenerate(hsm::Token& token,
                                                               const std::string& uri,
                                                               hsm::KeyType type,
                                                               absl::string_view what) {
  absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> key = token.OpenSigningKey(uri);
  if (key.status().code() != absl::StatusCode::kNotFound) {
    if (key.ok()) std::cout << what << ": found " << uri << "\n";
    return key;
  }
  ASSIGN_OR_RETURN(auto created, token.GenerateSigningKey(uri, type));
  std::cout << what << ": generated " << hsm::KeyTypeName(type) << " key " << uri
            << " in the HSM (non-extractable)\n";
  return created;
}

// The EAB HMAC key: imported from `key_file` ("-" = stdin) when given, else the one already in
// the token (nullptr when there is none).
absl::StatusOr<std::unique_ptr<hsm::MacSigner>> EabKey(hsm::Token& token, const std::string& uri,
                                                       const std::optional<std::string>& key_file) {
  absl::StatusOr<std::unique_ptr<hsm::MacSigner>> existing = token.OpenHmacKey(uri);
  if (existing.ok()) {
    if (key_file.has_value()) {
      std::cout << "EAB key: " << uri
                << " is already in the HSM; the key given was NOT imported (the stored one is "
                   "used)\n";
    }
    return existing;
  }
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  if (!key_file.has_value()) return std::unique_ptr<hsm::MacSigner>();
  Secret key;
  if (*key_file == "-") {
    std::string line;
    std::getline(std::cin, line);
    key = Secret(std::move(line));
    if (!key.empty() && key.reveal().back() == '\r') key.mutable_value().pop_back();
    if (key.empty()) return absl::InvalidArgumentError("no EAB HMAC key on standard input");
  } else {
    ASSIGN_OR_RETURN(key, ReadSecretFile(*key_file));
  }
  ASSIGN_OR_RETURN(auto imported, token.ImportHmacKey(uri, std::move(key)));
  std::cout << "EAB key: imported into the HSM as " << uri << " (sensitive, non-extractable)\n";
  return imported;
}

// The signer's TLS key (an ordinary 0600 file: it protects the transport, not the account)
// and its certificate from the agent CA.
absl::Status EnsureServerCertificate(const SignerConfig& config, const hsm::JwsSigner& ca_key,
                                     const std::string& ca_pem,
                                     const std::vector<std::string>& extra_names) {
  const bool have_key = FileExists(config.server.tls_key);
  if (have_key && FileExists(config.server.tls_cert)) {
    std::cout << "server TLS: found " << config.server.tls_cert << "\n";
    return absl::OkStatus();
  }
  std::string spki_der;
  if (!have_key) RETURN_IF_ERROR(frontdoor::WriteNewTlsPrivateKey(config.server.tls_key).status());
  ASSIGN_OR_RETURN(Secret key_pem, ReadSecretFile(config.server.tls_key));
  ASSIGN_OR_RETURN(
      SslUniquePtr<EVP_PKEY> key,
      ParsePrivateKeyPem(key_pem, absl::StrCat("server.tls_key ", config.server.tls_key)));
  ASSIGN_OR_RETURN(spki_der, PublicKeyToDer(key.get()));

  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ips = {"127.0.0.1", "::1"};
  // An IP literal goes into the iPAddress entries, anything else is a DNS name.
  const auto add = [&dns_names, &ips](const std::string& name) {
    (frontdoor::IpAddress::Parse(name).ok() ? ips : dns_names).push_back(name);
  };
  for (const std::string& name : extra_names) add(name);
  // The listen host, unless it means "any address" or is already in the certificate.
  std::string host;
  if (!absl::StartsWith(config.server.listen, "unix:")) {
    absl::StatusOr<http::HostPort> listen = http::SplitHostPort(config.server.listen);
    if (listen.ok()) host = listen->host;
  }
  if (!host.empty() && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" &&
      host != "localhost" && host != "::1") {
    add(host);
  }
  ASSIGN_OR_RETURN(std::string cert_pem,
                   IssueServerCertificate(ca_key, ca_pem, spki_der, dns_names, ips,
                                          frontdoor::kServerCertificateDays));
  RETURN_IF_ERROR(WriteFileAtomically(config.server.tls_cert, cert_pem, 0644));
  std::cout << "server TLS: issued " << config.server.tls_cert << " from the agent CA\n";
  return absl::OkStatus();
}

// Registers `account` with its CA (idempotent: an account the CA already has for the key is
// found, not created again) and records it in the store. `eab_key_file` imports its EAB key
// first. FailedPrecondition when the CA needs EAB and no EAB key is in the HSM.
absl::Status InitAccount(hsm::Token& token, StateStore& store, const AccountConfig& account,
                         const std::optional<std::string>& eab_kid_override,
                         const std::optional<std::string>& eab_key_file,
                         absl::string_view config_path) {
  const std::string what = absl::StrCat("account ", account.name);
  std::optional<std::string> eab_kid = eab_kid_override;
  if (!eab_kid.has_value()) eab_kid = account.eab_kid;
  if (eab_key_file.has_value() && !eab_kid.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--eab-hmac-key-file needs --eab-kid (or eab_kid in the config) for ", what));
  }
  ASSIGN_OR_RETURN(std::optional<AccountRecord> recorded, store.FindAccount(account.name));
  if (recorded.has_value() && !recorded->directory_url.empty() &&
      recorded->directory_url != account.directory_url) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " was registered at ", recorded->directory_url, " but the config now says ",
        account.directory_url,
        ": an account belongs to one CA directory; give the new one its own [[accounts]] name"));
  }
  // A key rollover left pending (killed roll-key) may have relabelled the key: generating a
  // key under its label now would make a new account. roll-key or serve finish it first.
  ASSIGN_OR_RETURN(std::optional<RolloverPlan> rollover, LoadRolloverPlan(store, account.name));
  if (rollover.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": a key rollover is pending (step ", rollover->step,
        "); finish it first with `acme-signer account roll-key --config ", config_path,
        " --account ", account.name, "` (or by starting serve), then run init again"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> account_key,
                   OpenOrGenerate(token, account.key, account.key_type,
                                  absl::StrCat(what, " key")));
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::MacSigner> eab_key,
                   EabKey(token, account.eab_key, eab_key_file));
  ASSIGN_OR_RETURN(auto http_client, http::CurlHttpClient::Create(CaHttpOptions(account)));
  acme::AcmeClientOptions acme_options;
  acme_options.directory_url = account.directory_url;
  ASSIGN_OR_RETURN(auto acme_client,
                   acme::AcmeClient::Create(*http_client, *account_key, acme_options));
  acme::NewAccountOptions account_options;
  account_options.contact = account.contact;
  account_options.terms_of_service_agreed = account.terms_of_service_agreed;
  if (eab_key != nullptr && eab_kid.has_value()) {
    account_options.eab_kid = *eab_kid;
    account_options.eab_mac = eab_key.get();
  } else if (eab_kid.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": EAB kid ", *eab_kid, " is configured but no EAB HMAC key is in the HSM at ",
        account.eab_key, "; run acme-signer init --config ", config_path, " --account ",
        account.name, " --eab-hmac-key-file PATH (or - for stdin)"));
  }
  absl::StatusOr<acme::Account> registered = acme_client->RegisterAccount(account_options);
  if (!registered.ok()) {
    return absl::Status(registered.status().code(),
                        absl::StrCat(what, ": ", registered.status().message()));
  }
  ASSIGN_OR_RETURN(std::string thumbprint, acme_client->AccountThumbprint());
  AccountRecord record = recorded.value_or(AccountRecord());
  const absl::Time now = absl::Now();
  if (record.account_url != registered->url || record.registered_at == absl::InfinitePast()) {
    record.registered_at = now;
  }
  record.name = account.name;
  record.directory_url = account.directory_url;
  record.account_url = registered->url;
  record.key_thumbprint = thumbprint;
  if (record.status.empty()) record.status = "valid";
  record.updated_at = now;
  RETURN_IF_ERROR(store.PutAccount(record));
  std::cout << what << " (" << account.directory_url << ")\n"
            << "account URL: " << registered->url << "\n"
            << "account key thumbprint: " << thumbprint << "\n";
  return absl::OkStatus();
}

absl::Status Init(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  // --eab-kid / --eab-hmac-key-file belong to one account: --account, or the only one.
  const AccountConfig* eab_account = nullptr;
  if (std::optional<std::string> name = parser.Get("account"); name.has_value()) {
    ASSIGN_OR_RETURN(eab_account, config.AccountNamedByFlag(*name));
  } else if (parser.Has("eab-hmac-key-file") || parser.Has("eab-kid")) {
    if (config.accounts.size() != 1) {
      return absl::InvalidArgumentError(
          "--eab-kid/--eab-hmac-key-file: the config has several accounts; name the one the key "
          "belongs to with --account NAME (run init once per account)");
    }
    eab_account = &config.accounts.front();
  }
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Token> token, OpenConfiguredToken(config.hsm));

  ASSIGN_OR_RETURN(
      std::unique_ptr<hsm::JwsSigner> audit_key,
      OpenOrGenerate(*token, config.hsm.audit_key, hsm::KeyType::kEcP256, "audit key"));
  ASSIGN_OR_RETURN(
      std::unique_ptr<hsm::JwsSigner> ca_key,
      OpenOrGenerate(*token, config.hsm.agent_ca_key, hsm::KeyType::kEcP256, "agent CA key"));
  // The front door's EAB master key (signer/frontdoor/credentials.h). Made by every init, with
  // or without [acme_server], so that adding the front door later needs no new key ceremony; a
  // signer initialised before the front door existed gets it at its first enroll-client.
  {
    bool created = false;
    ASSIGN_OR_RETURN(std::unique_ptr<hsm::MacSigner> master,
                     frontdoor::OpenOrCreateEabMasterKey(*token, &created));
    std::cout << "front-door EAB master key: " << (created ? "generated " : "found ")
              << frontdoor::kEabMasterKeyUri
              << (created ? " in the HSM (non-extractable)\n" : "\n");
  }

  // Agent CA certificate.
  std::string ca_pem;
  if (FileExists(config.server.agent_ca_cert)) {
    ASSIGN_OR_RETURN(ca_pem, ReadFile(config.server.agent_ca_cert));
    std::cout << "agent CA: found " << config.server.agent_ca_cert << "\n";
  } else {
    ASSIGN_OR_RETURN(ca_pem,
                     CreateSelfSignedCaCertificate(
                         *ca_key, absl::StrCat("acme-signer agent CA ", config.server.trust_domain),
                         absl::Hours(24 * 3650)));
    RETURN_IF_ERROR(WriteFileAtomically(config.server.agent_ca_cert, ca_pem, 0644));
    std::cout << "agent CA: created " << config.server.agent_ca_cert << "\n";
  }
  RETURN_IF_ERROR(EnsureServerCertificate(config, *ca_key, ca_pem, parser.GetAll("server-name")));
  if (config.acme_server.has_value()) {
    // The front door's listener: its own key and certificate, from the same agent CA.
    ASSIGN_OR_RETURN(frontdoor::ListenerCertificateAction action,
                     frontdoor::EnsureListenerCertificate(*config.acme_server, *ca_key, ca_pem));
    if (action == frontdoor::ListenerCertificateAction::kCreated) {
      std::cout << "front door TLS: issued " << config.acme_server->tls_certificate
                << " from the agent CA (key " << config.acme_server->tls_private_key << ")\n";
    } else {
      std::cout << "front door TLS: found " << config.acme_server->tls_certificate << "\n";
    }
  }

  // State, the audit public key (so auditors can verify before the first checkpoint), and the
  // ACME account.
  RuntimeParts parts;
  parts.migrate_store = true;  // init creates or upgrades the schema (as `migrate` does)
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  std::cout << "state store: schema version " << runtime->store->schema_version_found()
            << " -> " << StateStore::kSchemaVersion << "\n";
  RETURN_IF_ERROR(
      runtime->store->SetValue(kAuditPublicKeyKey, absl::Base64Escape(audit_key->PublicKeyDer())));
  // The accounts: with --account only that one (its EAB key imported, then registered), else
  // every account. One that cannot be registered (no EAB key yet) does not stop the others.
  std::vector<std::string> not_registered;
  for (const AccountConfig& account : config.accounts) {
    const bool chosen = eab_account == &account;
    if (parser.Has("account") && !chosen) continue;
    absl::Status s = InitAccount(*token, *runtime->store, account,
                                 chosen ? parser.Get("eab-kid") : std::nullopt,
                                 chosen ? parser.Get("eab-hmac-key-file") : std::nullopt,
                                 *parser.Get("config"));
    if (!s.ok()) {
      if (config.accounts.size() == 1) return s;
      std::cout << "account " << account.name << ": NOT registered: " << s.message() << "\n";
      not_registered.push_back(account.name);
    }
  }
  if (!not_registered.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "account(s) ", absl::StrJoin(not_registered, ", "),
        " not registered (see above); fix and run init again (it is idempotent)"));
  }
  std::cout << "signer initialized; start it with: acme-signer serve --config "
            << *parser.Get("config") << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunInit(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-signer init --config FILE [--account NAME] [--eab-kid KID --eab-hmac-key-file "
      "PATH|-] [--server-name NAME ...]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("account", "NAME",
             "set up only this [[accounts]] entry (its key, its EAB key from "
             "--eab-kid/--eab-hmac-key-file, its registration); needed for the EAB options when "
             "the config has several accounts: run init once per account")
      .Value("eab-kid", "KID", "External Account Binding key id from the CA")
      .Value("eab-hmac-key-file", "PATH|-",
             "file holding the base64url EAB HMAC key (- reads one line from stdin); imported "
             "into the HSM and never stored elsewhere")
      .Repeated("server-name", "NAME", "extra DNS name or IP for the signer's TLS certificate")
      .Required("config");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer init: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = Init(parser); !s.ok()) {
    std::cerr << "acme-signer init: " << s.message() << "\n";
    return StartupExitCode(s);
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
