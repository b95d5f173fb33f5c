// The HSM's signing latency and errors in the process metrics (common/metrics.h), which the
// signer serves on /metrics: acme_signer_hsm_sign_duration_seconds{operation} and
// acme_signer_hsm_sign_errors_total{operation,code}. `operation` is "jws" (account, audit and
// agent CA keys: ECDSA/RSA/EdDSA) or "hmac" (HS256: EAB and audit MACs); `code` is the absl
// status code name (a short fixed list), never a key label or message.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_HSM_SIGN_METRICS_H_
#define ACME_SIGNER_HSM_SIGN_METRICS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::hsm {

// Records one signature that took `elapsed` and ended with `result`.
void RecordHsmSign(absl::string_view operation, absl::Duration elapsed, const absl::Status& result);

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_SIGN_METRICS_H_
