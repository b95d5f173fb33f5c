#include "signer/frontdoor/dns01_validator.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/dns_names.h"
#include "acme/key_authorization.h"

namespace acme_signer::signer::frontdoor {
namespace {

// Records shown in a detail, each escaped and cut.
constexpr size_t kMaxShownRecords = 5;
constexpr size_t kMaxShownRecordBytes = 64;

std::string ShownRecords(const std::vector<std::string>& records) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < records.size() && i < kMaxShownRecords; ++i) {
    const std::string& r = records[i];
    shown.push_back(
        absl::StrCat("\"", absl::CHexEscape(absl::string_view(r).substr(0, kMaxShownRecordBytes)),
                     r.size() > kMaxShownRecordBytes ? "...\"" : "\""));
  }
  std::string text = absl::StrJoin(shown, ", ");
  if (records.size() > kMaxShownRecords) {
    absl::StrAppend(&text, " and ", records.size() - kMaxShownRecords, " more");
  }
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dns01Validator>> Dns01Validator::Create(
    std::shared_ptr<const DnsResolver> resolver, absl::Duration timeout) {
  if (resolver == nullptr) return absl::InvalidArgumentError("dns-01 validator: no DNS resolver");
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("dns-01 validator: timeout must be positive");
  }
  return std::unique_ptr<Dns01Validator>(new Dns01Validator(std::move(resolver), timeout));
}

absl::StatusOr<ValidationResult> Dns01Validator::Validate(
    absl::string_view identifier, absl::string_view key_authorization) const {
  if (absl::Status valid = acme::ValidateDnsIdentifier(identifier); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dns-01 validation: ", valid.message()));
  }
  if (key_authorization.empty()) {
    return absl::InvalidArgumentError("dns-01 validation: empty key authorization");
  }
  absl::StatusOr<std::string> expected = acme::Dns01TxtValue(key_authorization);
  if (!expected.ok()) return expected.status();
  const std::string record_name = acme::Dns01RecordName(identifier);

  ValidationResult result;
  ValidationRecord record;
  record.hostname = record_name;
  absl::StatusOr<std::vector<std::string>> txt =
      resolver_->LookupTxt(record_name, absl::Now() + timeout_);
  result.records.push_back(record);
  if (!txt.ok()) {
    if (absl::IsNotFound(txt.status()) && !absl::StrContains(txt.status().message(), "NXDOMAIN")) {
      result.problem_type = std::string(kProblemUnauthorized);
      result.detail =
          absl::StrCat("No TXT record found at ", record_name, " (", txt.status().message(), ")");
      return result;
    }
    result.problem_type = std::string(kProblemDns);
    result.detail = absl::StrCat("DNS problem: ", txt.status().message());
    return result;
  }
  for (const std::string& value : *txt) {
    if (value == *expected) {
      result.detail = absl::StrCat("TXT record at ", record_name, " holds the expected value (",
                                   txt->size(), " record(s))");
      return result;
    }
  }
  result.problem_type = std::string(kProblemUnauthorized);
  result.detail = absl::StrCat("Incorrect TXT record at ", record_name, ": found ",
                               ShownRecords(*txt), ", expected \"", *expected, "\"");
  return result;
}

}  // namespace acme_signer::signer::frontdoor
