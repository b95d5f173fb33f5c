#include "hsm/objects.h"

#include "absl/strings/str_cat.h"
#include "hsm/ck_status.h"

namespace acme_signer::hsm {
namespace {

// Ends a find operation on every path out of FindObjects.
class FindGuard {
 public:
  FindGuard(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session) : f_(f), session_(session) {}
  ~FindGuard() { f_->C_FindObjectsFinal(session_); }
  FindGuard(const FindGuard&) = delete;
  FindGuard& operator=(const FindGuard&) = delete;

 private:
  CK_FUNCTION_LIST* f_;
  CK_SESSION_HANDLE session_;
};

}  // namespace

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(CK_FUNCTION_LIST* f,
                                                          CK_SESSION_HANDLE session,
                                                          const ObjectQuery& query, size_t max) {
  std::vector<CK_ATTRIBUTE> tmpl;
  CK_OBJECT_CLASS object_class = query.object_class.value_or(0);
  // PKCS#11 templates take non-const pointers; C_FindObjectsInit only reads them.
  if (query.label) {
    tmpl.push_back({CKA_LABEL, const_cast<char*>(query.label->data()), query.label->size()});
  }
  if (query.id) tmpl.push_back({CKA_ID, const_cast<char*>(query.id->data()), query.id->size()});
  if (query.object_class) tmpl.push_back({CKA_CLASS, &object_class, sizeof(object_class)});
  CK_RV rv = f->C_FindObjectsInit(session, tmpl.data(), tmpl.size());
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("searching for ", query.display));
  FindGuard guard(f, session);
  std::vector<CK_OBJECT_HANDLE> handles(max);
  CK_ULONG count = 0;
  rv = f->C_FindObjects(session, handles.data(), handles.size(), &count);
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("searching for ", query.display));
  handles.resize(count);
  return handles;
}

absl::StatusOr<CK_OBJECT_HANDLE> FindUniqueObject(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                                  const ObjectQuery& query,
                                                  absl::string_view what) {
  auto handles = FindObjects(f, session, query, 2);
  if (!handles.ok()) return handles.status();
  if (handles->empty()) {
    return absl::NotFoundError(absl::StrCat("no ", what, " matches ", query.display));
  }
  if (handles->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(query.display, " matches more than one ", what,
                                                   "; add id= or type= to the URI"));
  }
  return handles->front();
}

absl::StatusOr<std::string> GetBytesAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                              CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr = {type, nullptr, 0};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("reading attribute 0x", absl::Hex(type)));
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return absl::NotFoundError(absl::StrCat("attribute 0x", absl::Hex(type), " is unavailable"));
  }
  std::string value(attr.ulValueLen, '\0');
  attr.pValue = value.data();
  rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("reading attribute 0x", absl::Hex(type)));
  value.resize(attr.ulValueLen);
  return value;
}

absl::StatusOr<CK_ULONG> GetUlongAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                           CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ULONG value = 0;
  CK_ATTRIBUTE attr = {type, &value, sizeof(value)};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("reading attribute 0x", absl::Hex(type)));
  return value;
}

absl::StatusOr<bool> GetBoolAttribute(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                      CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr = {type, &value, sizeof(value)};
  CK_RV rv = f->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return CkStatus(rv, absl::StrCat("reading attribute 0x", absl::Hex(type)));
  return value == CK_TRUE;
}

absl::StatusOr<CK_OBJECT_HANDLE> ObjectRef::Get(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session,
                                                uint64_t epoch) {
  {
    absl::MutexLock lock(&mutex_);
    if (found_ && epoch_ == epoch) return handle_;
  }
  auto handle = FindUniqueObject(f, session, query_, "key");
  if (!handle.ok()) return handle.status();
  absl::MutexLock lock(&mutex_);
  // A slower thread that found the handle in an older epoch must not overwrite a newer one.
  if (!found_ || epoch >= epoch_) {
    found_ = true;
    handle_ = *handle;
    epoch_ = epoch;
  }
  return *handle;
}

}  // namespace acme_signer::hsm
