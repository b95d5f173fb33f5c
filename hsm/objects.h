// Finding token objects and reading their attributes, plus ObjectRef: an object named by
// label/id/class whose handle is cached and found again after sessions were lost (handles
// are only guaranteed for the life of the session state that produced them).
#ifndef ACME_SIGNER_HSM_OBJECTS_H_
#define ACME_SIGNER_HSM_OBJECTS_H_

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer::hsm {

// Which objects to look for; unset members match anything. Plain value, thread-compatible.
struct ObjectQuery {
  std::optional<std::string> label;  // CKA_LABEL
  std::optional<std::string> id;     // CKA_ID
  std::optional<CK_OBJECT_CLASS> object_class;
  // The URI, for messages.
  std::string display;
};

// All handles matching `query` (at most `max`). Errors carry the CKR_ name.
absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(CK_FUNCTION_LIST* f,
                                                          CK_SESSION_HANDLE session,
                                                          const ObjectQuery& query,
                                                          size_t max = 16);

// Exactly one match: NotFound ("no <what> matches <uri>") when none, InvalidArgument when
// several ("add id= to the URI").
absl::StatusOr<CK_OBJECT_HANDLE> FindUniqueObject(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                                  const ObjectQuery& query, absl::string_view what);

// Attribute values. A sensitive attribute gives PermissionDenied (CKR_ATTRIBUTE_SENSITIVE).
absl::StatusOr<std::string> GetBytesAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                              CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
absl::StatusOr<CK_ULONG> GetUlongAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                           CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
absl::StatusOr<bool> GetBoolAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                      CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

// A token object found by a query, with its handle cached per session epoch (see
// Token::WithSession). Thread-safe.
class ObjectRef {
 public:
  explicit ObjectRef(ObjectQuery query) : query_(std::move(query)) {}

  // The handle, found again when `epoch` differs from the one it was found in.
  absl::StatusOr<CK_OBJECT_HANDLE> Get(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                       uint64_t epoch) ABSL_LOCKS_EXCLUDED(mutex_);
  const ObjectQuery& query() const { return query_; }

 private:
  const ObjectQuery query_;
  absl::Mutex mutex_;
  bool found_ ABSL_GUARDED_BY(mutex_) = false;
  CK_OBJECT_HANDLE handle_ ABSL_GUARDED_BY(mutex_) = CK_INVALID_HANDLE;
  uint64_t epoch_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_OBJECTS_H_
