// A byte string holding a secret (PIN, HMAC key). Its buffer is wiped with OPENSSL_cleanse
// when destroyed or reassigned, and it has no operator<< so it cannot be logged by accident.
// Read it through reveal(), which is easy to grep for.
#ifndef ACME_SIGNER_COMMON_SECRET_H_
#define ACME_SIGNER_COMMON_SECRET_H_

#include <openssl/crypto.h>

#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace acme_signer {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      Wipe();
      value_ = std::move(other.value_);
      other.Wipe();
    }
    return *this;
  }
  ~Secret() { Wipe(); }

  absl::string_view reveal() const { return value_; }
  // Mutable access for code that fills the buffer in place (e.g. a decoder).
  std::string& mutable_value() { return value_; }
  bool empty() const { return value_.empty(); }
  size_t size() const { return value_.size(); }

 private:
  void Wipe() {
    // Wipe the whole capacity: a shrink may have left secret bytes past size().
    value_.resize(value_.capacity());
    if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
    value_.clear();
  }
  std::string value_;
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_SECRET_H_
