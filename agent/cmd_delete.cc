// acme-agent delete --cert-name NAME: certbot's `delete`. Removes a lineage (live/NAME,
// archive/NAME with its keys, renewal/NAME.conf) without revoking anything: the certificate
// stays valid at the CA until it expires (`acme-agent revoke --delete-after-revoke` revokes and
// deletes). Under the run lock, so no renewal can run meanwhile; never prompts (acme-agent
// never does).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/central_store.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/lineage.h"
#include "common/cli.h"
#include "nlohmann/json.hpp"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "delete";

}  // namespace

int RunDelete(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent delete --cert-name NAME   (removes the lineage's files; does not revoke)");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "the lineage to delete").Required("cert-name");
  if (auto exit_code = ParseOrExit(parser, args, kCommand)) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError(kCommand, context.status());
  const std::string name = *parser.Get("cert-name");
  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
  if (!lock.ok()) return Fail(&*context, kCommand, lock.status());
  LineageStore store(context->config.config_dir);
  // Its --ccs-dir copies go with it (only files that still hold its live PKCS#12).
  const CentralStoreCopies copies = LiveCentralStoreCopies(store, name);
  if (absl::Status deleted = store.Delete(name); !deleted.ok()) {
    if (absl::IsNotFound(deleted) || absl::IsInvalidArgument(deleted)) {
      return UsageError(kCommand, deleted);
    }
    return Fail(&*context, kCommand, deleted);
  }
  if (absl::Status removed = RemoveFromCentralStore(copies); !removed.ok()) {
    return Fail(
        &*context, kCommand,
        WithMessage(removed, absl::StrCat("deleted certificate ", name,
                                          ", but not its --ccs-dir copies: ", removed.message())));
  }
  if (context->json) {
    PrintJsonResult(kCommand, {{"deleted", name}});
  } else {
    context->Say(absl::StrCat("Deleted all files relating to certificate ", name, "."));
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
