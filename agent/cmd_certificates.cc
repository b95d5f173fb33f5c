// acme-agent certificates: list the lineages under the config dir, in `certbot certificates`
// layout (scripts that scrape certbot's output keep working), or as one JSON object whose
// "certificates" member is the list.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/certificate_info.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/lineage.h"
#include "agent/renewal_config.h"
#include "common/ssl_unique_ptr.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "certificates";

constexpr char kRule[] =
    "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -";

// certbot's names for the certificate's public key type; "" when unknown.
std::string KeyTypeOf(const std::string& cert_pem) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(cert_pem);
  if (!cert.ok()) return "";
  EVP_PKEY* key = X509_get0_pubkey(cert->get());
  if (key == nullptr) return "";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
      return "ECDSA";
    case EVP_PKEY_RSA:
      return "RSA";
    default:
      return "";
  }
}

std::string FormatExpiry(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S+00:00", t, absl::UTCTimeZone());
}

struct Row {
  const LineageInfo* info;
  std::string key_type;
  std::string account;  // the signer account of its renewal config; "" = the default
  std::string server;   // that account's directory URL as recorded
};

// How a lineage's account is shown: its name (and directory), or that it follows the default.
std::string AccountText(const Row& row) {
  if (row.account.empty()) return "(the signer's default for this agent)";
  return row.server.empty() ? row.account : absl::StrCat(row.account, " (", row.server, ")");
}

void PrintText(const std::vector<Row>& rows, absl::Time now) {
  std::cout << kRule << "\nFound the following certs:\n";
  for (const Row& row : rows) {
    const LineageInfo& info = *row.info;
    std::cout << "  Certificate Name: " << info.name << "\n";
    if (!info.status.ok()) {
      std::cout << "    Error: " << info.status.message() << "\n"
                << "    Certificate Path: " << info.paths.fullchain << "\n";
      continue;
    }
    const CertificateInfo& cert = info.certificate;
    std::cout << "    Serial Number: " << SerialText(cert.serial_hex) << "\n";
    if (!row.key_type.empty()) std::cout << "    Key Type: " << row.key_type << "\n";
    std::cout << "    Domains: " << absl::StrJoin(cert.dns_names, " ") << "\n"
              << "    Expiry Date: " << FormatExpiry(cert.not_after) << " ("
              << ValidityText(cert.not_after, info.revoked, now) << ")\n"
              << "    Certificate Path: " << info.paths.fullchain << "\n"
              << "    Private Key Path: " << info.paths.privkey << "\n"
              << "    Account: " << AccountText(row) << "\n";
  }
  std::cout << kRule << std::endl;
}

void PrintJson(const std::vector<Row>& rows, absl::Time now) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    const LineageInfo& info = *row.info;
    nlohmann::json entry = {{"name", info.name},
                            {"ok", info.status.ok()},
                            {"version", info.version},
                            {"cert_path", info.paths.fullchain},
                            {"key_path", info.paths.privkey},
                            {"has_renewal_conf", info.has_renewal_conf},
                            {"account", row.account},
                            {"server", row.server}};
    if (!info.status.ok()) {
      entry["error"] = std::string(info.status.message());
    } else {
      const CertificateInfo& cert = info.certificate;
      entry["serial"] = SerialText(cert.serial_hex);
      entry["key_type"] = row.key_type;
      entry["domains"] = cert.dns_names;
      entry["not_before"] =
          absl::FormatTime(absl::RFC3339_sec, cert.not_before, absl::UTCTimeZone());
      entry["not_after"] = absl::FormatTime(absl::RFC3339_sec, cert.not_after, absl::UTCTimeZone());
      entry["expired"] = cert.not_after <= now;
      entry["revoked"] = info.revoked;
      entry["valid_days"] = cert.not_after <= now ? 0 : (cert.not_after - now) / absl::Hours(24);
    }
    out.push_back(std::move(entry));
  }
  PrintJsonResult(kCommand, {{"certificates", std::move(out)}});
}

// Listing only reads the config dir, so `--config-dir DIR` works without an agent config file.
absl::StatusOr<CommandContext> LoadListingContext(const ArgParser& parser) {
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (context.ok() || context.status().code() != absl::StatusCode::kNotFound ||
      parser.Has("config") || !parser.Has("config-dir")) {
    return context;
  }
  CommandContext fallback;
  fallback.config.config_dir = *parser.Get("config-dir");
  fallback.quiet = parser.Has("quiet");
  fallback.json = parser.Has("json");
  fallback.verbose = parser.Has("verbose");
  return fallback;
}

}  // namespace

int RunCertificates(const std::vector<std::string>& args) {
  ArgParser parser("acme-agent certificates [--cert-name NAME] [options]");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "show only this certificate");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadListingContext(parser);
  if (!context.ok()) return UsageError(kCommand, context.status());
  LineageStore store(context->config.config_dir);
  absl::StatusOr<std::vector<LineageInfo>> lineages = store.List();
  if (!lineages.ok()) return Fail(&*context, kCommand, lineages.status());

  const std::optional<std::string> only = parser.Get("cert-name");
  std::vector<Row> rows;
  for (const LineageInfo& info : *lineages) {
    if (only.has_value() && info.name != *only) continue;
    Row row{&info, "", "", ""};
    if (absl::StatusOr<RenewalConfig> settings = store.ReadRenewalConfig(info.name);
        settings.ok()) {
      row.account = settings->account;
      row.server = settings->server;
    }
    if (info.status.ok()) {
      absl::StatusOr<std::string> pem = store.ReadCurrentCertificatePem(info.name);
      if (pem.ok()) row.key_type = KeyTypeOf(*pem);
    }
    rows.push_back(std::move(row));
  }
  const absl::Time now = absl::Now();
  if (context->json) {
    PrintJson(rows, now);
  } else if (context->quiet) {
    // -q: nothing to print on success.
  } else if (rows.empty()) {
    std::cout << "No certificates found." << std::endl;
  } else {
    PrintText(rows, now);
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
