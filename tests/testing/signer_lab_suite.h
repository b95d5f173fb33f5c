// SignerLabSuite<Suite>: a GoogleTest fixture base that shares one SignerLab (one signer,
// SoftHSM2 token and Pebble) across every test of a suite, because starting one costs seconds.
//
//   class MyTest : public testing::SignerLabSuite<MyTest> {
//    protected:
//     // Optional: hide LabOptions() to change the lab (policies, Pebble environment, ...).
//     static testing::SignerLab::Options LabOptions() { ... }
//   };
//
// SetUp() skips (dev machine) or fails (CI=true) when SoftHSM2 or Pebble is missing, fails when
// the lab did not start, and fails when an earlier test left the signer stopped: a test that
// stops or reconfigures the signer puts it back in its own TearDown().
//
// The lab is created in SetUpTestSuite on the test's main thread, which outlives it (children
// get PR_SET_PDEATHSIG). Thread-safety: the accessors are for the test's main thread; a
// SignerClient from Client() may be used from other threads.
#ifndef ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_SUITE_H_
#define ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_SUITE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/signer_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/signer_lab.h"

namespace acme_signer::testing {

template <typename Suite>
class SignerLabSuite : public ::testing::Test {
 protected:
  // The lab every test of the suite shares. A suite hides this to change it.
  static SignerLab::Options LabOptions() { return SignerLab::Options(); }

  static void SetUpTestSuite() {
    if (!SignerLab::ToolsAvailable().ok()) return;  // SetUp skips or fails per test.
    // A class derived from Suite may call Suite's protected LabOptions(); the base may not.
    struct OptionsOf : Suite {
      static SignerLab::Options Get() { return Suite::LabOptions(); }
    };
    absl::StatusOr<std::unique_ptr<SignerLab>> lab = SignerLab::Start(OptionsOf::Get());
    if (lab.ok()) {
      lab_ = std::move(*lab);
    } else {
      lab_error_ = lab.status();
    }
  }

  static void TearDownTestSuite() { lab_.reset(); }

  void SetUp() override {
    ACME_SIGNER_REQUIRE_SIGNER_LAB_TOOLS();
    ASSERT_TRUE(lab_error_.ok()) << lab_error_;
    ASSERT_NE(lab_, nullptr);
    ASSERT_TRUE(lab_->signer_running()) << "an earlier test left the signer stopped:\n"
                                        << lab_->SignerLogTail();
  }

  static SignerLab& lab() { return *lab_; }
  // False when the lab did not start (SetUp has then skipped or failed the test); a
  // TearDown() that touches the lab checks this first.
  static bool lab_started() { return lab_ != nullptr; }
  // For a suite's own SetUpTestSuite steps after the lab started: every test then fails in
  // SetUp with this error.
  static void FailSuiteSetUp(absl::Status error) { lab_error_ = std::move(error); }

  // A connected client for an enrolled agent (nullptr and a test failure otherwise).
  static std::unique_ptr<agent::SignerClient> Client(absl::string_view agent_name) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab_->Client(agent_name);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Every audit record so far (empty and a test failure when the log cannot be read).
  static std::vector<nlohmann::json> AuditRecords() {
    absl::StatusOr<std::vector<nlohmann::json>> records = lab_->ReadAuditRecords();
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *std::move(records) : std::vector<nlohmann::json>();
  }

  // Runs `acme-signer <args...>` (a default result and a test failure when it cannot run).
  static CommandResult Run(const std::vector<std::string>& args) {
    absl::StatusOr<CommandResult> result = lab_->RunSignerCommand(args);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : CommandResult();
  }

  // The audit records of kind "event" (checkpoints left out), in order.
  static std::vector<nlohmann::json> AuditEvents() {
    std::vector<nlohmann::json> events;
    for (nlohmann::json& record : AuditRecords()) {
      if (record.value("kind", "") == "event") events.push_back(std::move(record));
    }
    return events;
  }

  // `acme-signer inventory --json`, parsed (an empty array and a test failure otherwise).
  static nlohmann::json Inventory() {
    CommandResult run = Run({"inventory", "--config", lab_->config_path(), "--json"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    nlohmann::json list = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_TRUE(list.is_array()) << run.out;
    return list.is_array() ? list : nlohmann::json::array();
  }

  static int InventoryEntriesWithSerial(absl::string_view serial) {
    int n = 0;
    for (const nlohmann::json& entry : Inventory()) n += entry.value("serial", "") == serial;
    return n;
  }

  // `acme-signer audit verify` accepts the live log.
  static void ExpectAuditVerifies() {
    CommandResult verify = Run({"audit", "verify", "--config", lab_->config_path()});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_THAT(verify.out, ::testing::HasSubstr("OK: "));
  }

 private:
  static inline std::unique_ptr<SignerLab> lab_;
  static inline absl::Status lab_error_;
};

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_SUITE_H_
