// acme-hsm: operator tool for the HSM side of acme-signer. Lists tokens and objects by
// PKCS#11 URI, generates the account key, imports the EAB HMAC key. PINs and keys are only
// ever read from files (never argv or environment).
//
//   acme-hsm list-tokens --module softhsm2
//   acme-hsm list-objects --module softhsm2 --token 'pkcs11:token=acme-signer' --pin-file F
//   acme-hsm generate-key ... --object 'pkcs11:object=account-key;id=%01' [--key-type ec-p256]
//   acme-hsm import-hmac-key ... --object 'pkcs11:object=eab-key' --key-file F

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base64url.h"
#include "common/cli.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "hsm/inventory.h"
#include "hsm/key_type.h"
#include "hsm/module.h"
#include "hsm/token.h"

namespace acme_signer::hsm {
namespace {

constexpr char kUsage[] =
    "usage: acme-hsm COMMAND [flags]\n"
    "commands: list-tokens, list-objects, generate-key, import-hmac-key (--help for each)\n";

ArgParser TokenParser(const std::string& usage) {
  ArgParser parser(usage);
  parser.Value("module", "NAME|PATH", "p11-kit module name (e.g. softhsm2) or module path")
      .Required("module");
  parser.Value("token", "URI", "token URI, e.g. pkcs11:token=acme-signer").Required("token");
  parser.Value("pin-file", "FILE",
               "file holding the user PIN (mode 0600); default: the URI's pin-source");
  return parser;
}

absl::Status PrintHelp(const ArgParser& parser) {
  std::printf("%s", parser.Help().c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Token>> OpenToken(const ArgParser& parser) {
  ASSIGN_OR_RETURN(std::shared_ptr<Module> module, Module::Load(*parser.Get("module")));
  return Token::Open(module, *parser.Get("token"), parser.Get("pin-file"));
}

std::string Thumbprint(const std::string& jwk) { return Base64Url(Sha256(jwk)); }

absl::Status ListTokensCommand(const std::vector<std::string>& args) {
  ArgParser parser("acme-hsm list-tokens --module NAME|PATH");
  parser.Value("module", "NAME|PATH", "p11-kit module name (e.g. softhsm2) or module path")
      .Required("module");
  RETURN_IF_ERROR(parser.Parse(args));
  if (parser.help_requested()) return PrintHelp(parser);
  ASSIGN_OR_RETURN(std::shared_ptr<Module> module, Module::Load(*parser.Get("module")));
  ASSIGN_OR_RETURN(std::vector<TokenEntry> tokens, ListTokens(*module));
  for (const TokenEntry& token : tokens) std::printf("%s\n", token.uri.c_str());
  return absl::OkStatus();
}

absl::Status ListObjectsCommand(const std::vector<std::string>& args) {
  ArgParser parser = TokenParser("acme-hsm list-objects --module M --token URI [--pin-file F]");
  RETURN_IF_ERROR(parser.Parse(args));
  if (parser.help_requested()) return PrintHelp(parser);
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, OpenToken(parser));
  ASSIGN_OR_RETURN(std::vector<ObjectEntry> objects, ListObjects(*token));
  for (const ObjectEntry& object : objects) {
    std::printf("%s\t%s%s\n", object.uri.c_str(), object.kind.c_str(),
                object.extractable ? "\tEXTRACTABLE" : "");
  }
  return absl::OkStatus();
}

absl::Status GenerateKeyCommand(const std::vector<std::string>& args) {
  ArgParser parser = TokenParser(
      "acme-hsm generate-key --module M --token URI [--pin-file F] --object URI "
      "[--key-type T]");
  parser.Value("object", "URI", "object URI of the new key, e.g. pkcs11:object=account-key")
      .Required("object");
  parser.Value("key-type", "TYPE", "ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096");
  RETURN_IF_ERROR(parser.Parse(args));
  if (parser.help_requested()) return PrintHelp(parser);
  ASSIGN_OR_RETURN(KeyType type, ParseKeyType(parser.GetOr("key-type", "ec-p256")));
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, OpenToken(parser));
  ASSIGN_OR_RETURN(std::unique_ptr<JwsSigner> signer,
                   token->GenerateSigningKey(*parser.Get("object"), type));
  std::printf("alg: %s\njwk: %s\nthumbprint: %s\n", std::string(signer->Algorithm()).c_str(),
              signer->PublicJwk().c_str(), Thumbprint(signer->PublicJwk()).c_str());
  return absl::OkStatus();
}

absl::Status ImportHmacKeyCommand(const std::vector<std::string>& args) {
  ArgParser parser = TokenParser(
      "acme-hsm import-hmac-key --module M --token URI [--pin-file F] --object URI "
      "--key-file F");
  parser.Value("object", "URI", "object URI of the key, e.g. pkcs11:object=eab-key")
      .Required("object");
  parser.Value("key-file", "FILE", "file holding the EAB HMAC key as the CA gave it (base64url)")
      .Required("key-file");
  RETURN_IF_ERROR(parser.Parse(args));
  if (parser.help_requested()) return PrintHelp(parser);
  ASSIGN_OR_RETURN(Secret key, ReadSecretFile(*parser.Get("key-file")));
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, OpenToken(parser));
  ASSIGN_OR_RETURN(std::unique_ptr<MacSigner> mac,
                   token->ImportHmacKey(*parser.Get("object"), std::move(key)));
  std::printf("imported %s (%s); you may now delete %s\n", parser.Get("object")->c_str(),
              std::string(mac->Algorithm()).c_str(), parser.Get("key-file")->c_str());
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  absl::Status status;
  if (command == "list-tokens") {
    status = ListTokensCommand(args);
  } else if (command == "list-objects") {
    status = ListObjectsCommand(args);
  } else if (command == "generate-key") {
    status = GenerateKeyCommand(args);
  } else if (command == "import-hmac-key") {
    status = ImportHmacKeyCommand(args);
  } else if (command == "--help" || command == "-h" || command == "help") {
    std::printf("%s", kUsage);
    return 0;
  } else {
    std::fprintf(stderr, "acme-hsm: unknown command '%s'\n%s", command.c_str(), kUsage);
    return 2;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "acme-hsm %s: %s\n", command.c_str(), status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace acme_signer::hsm

int main(int argc, char** argv) { return acme_signer::hsm::Main(argc, argv); }
