#include "hsm/module.h"

#include <p11-kit/p11-kit.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "hsm/ck_status.h"
#include "hsm/p11_kit_handles.h"

namespace acme_signer::hsm {
namespace {

std::string P11KitMessage() {
  const char* message = p11_kit_message();
  return message != nullptr ? message : "no detail from p11-kit";
}

// Live modules by the name/path they were loaded with. weak_ptr: the registry must not keep a
// module initialized after its last user is gone.
struct ModuleRegistry {
  absl::Mutex mutex;
  std::map<std::string, std::weak_ptr<Module>> modules ABSL_GUARDED_BY(mutex);
};
ModuleRegistry& Registry() {
  static auto* registry = new ModuleRegistry;
  return *registry;
}

// Loads a module registered with p11-kit by name. Managed mode (flags 0): p11-kit gives us our
// own view of the module, so another library in the process using it cannot finalize it
// under us.
absl::StatusOr<CK_FUNCTION_LIST*> LoadByName(const std::string& name) {
  P11KitModuleList modules(p11_kit_modules_load(nullptr, 0));
  if (modules == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("p11-kit could not load its registered modules: ", P11KitMessage()));
  }
  std::vector<std::string> names;
  CK_FUNCTION_LIST* found = nullptr;
  for (CK_FUNCTION_LIST** it = modules.get(); *it != nullptr; ++it) {
    const P11KitString module_name(p11_kit_module_get_name(*it));
    if (module_name != nullptr) {
      names.emplace_back(module_name.get());
      if (name == module_name.get()) found = *it;
    }
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "no p11-kit module named '", name, "' is registered (registered: ",
        absl::StrJoin(names, ", "), "); give a module path or see p11-kit list-modules"));
  }
  // Keep `found` (loaded with its registered configuration), release the rest; then only the
  // array itself is left to free.
  const P11KitMemory<CK_FUNCTION_LIST*> list(modules.release());
  for (CK_FUNCTION_LIST** it = list.get(); *it != nullptr; ++it) {
    if (*it != found) p11_kit_module_release(*it);
  }
  return found;
}

absl::StatusOr<CK_FUNCTION_LIST*> LoadByPath(const std::string& path) {
  CK_FUNCTION_LIST* module = p11_kit_module_load(path.c_str(), 0);
  if (module == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot load PKCS#11 module ", path, ": ", P11KitMessage()));
  }
  return module;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Module>> Module::Load(absl::string_view name_or_path) {
  const std::string key(name_or_path);
  if (key.empty()) return absl::InvalidArgumentError("PKCS#11 module name/path is empty");
  ModuleRegistry& registry = Registry();
  absl::MutexLock lock(&registry.mutex);
  if (std::shared_ptr<Module> live = registry.modules[key].lock()) return live;

  absl::StatusOr<CK_FUNCTION_LIST*> loaded =
      absl::StrContains(key, "/") ? LoadByPath(key) : LoadByName(key);
  if (!loaded.ok()) return loaded.status();
  CK_FUNCTION_LIST* functions = *loaded;

  // OS locking: Token runs PKCS#11 calls from many threads at once.
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions->C_Initialize(&args);
  if (rv != CKR_OK) {
    p11_kit_module_release(functions);
    absl::Status status = CkStatus(rv, absl::StrCat("C_Initialize of PKCS#11 module ", key));
    return absl::FailedPreconditionError(status.message());
  }
  std::shared_ptr<Module> module(new Module(key, functions));
  registry.modules[key] = module;
  return module;
}

Module::~Module() {
  functions_->C_Finalize(nullptr);
  p11_kit_module_release(functions_);
}

absl::Status Module::Reinitialize(uint64_t seen_generation, absl::Duration min_interval) {
  absl::MutexLock lock(&mutex_);  // Waits until no Use is held.
  if (generation() != seen_generation) return absl::OkStatus();
  const absl::Time now = absl::Now();
  if (now - last_reinitialized_ < min_interval) {
    return absl::UnavailableError(absl::StrCat(
        "PKCS#11 module ", name_, " was reinitialized ",
        absl::FormatDuration(absl::Trunc(now - last_reinitialized_, absl::Milliseconds(1))),
        " ago; not again before ", absl::FormatDuration(min_interval)));
  }
  last_reinitialized_ = now;
  // Every session of this process on this module ends here; holders notice by generation().
  if (initialized_) functions_->C_Finalize(nullptr);
  initialized_ = false;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions_->C_Initialize(&args);
  if (rv != CKR_OK) {
    return absl::UnavailableError(
        CkStatus(rv, absl::StrCat("reinitializing PKCS#11 module ", name_)).message());
  }
  initialized_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CK_SLOT_ID>> Module::SlotsWithToken() const {
  Use in_use(*this);
  // The slot count can change between the two calls (hot-plug): retry on CKR_BUFFER_TOO_SMALL.
  for (int attempt = 0; attempt < 5; ++attempt) {
    CK_ULONG count = 0;
    CK_RV rv = functions_->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("C_GetSlotList of ", name_));
    std::vector<CK_SLOT_ID> slots(count);
    rv = functions_->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("C_GetSlotList of ", name_));
    slots.resize(count);
    return slots;
  }
  return absl::UnavailableError(absl::StrCat("slot list of ", name_, " keeps changing"));
}

}  // namespace acme_signer::hsm
