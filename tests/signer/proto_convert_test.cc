#include "signer/proto_convert.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ToGrpcStatusTest, KeepsTheCodeAndAShortMessage) {
  grpc::Status status = ToGrpcStatus(absl::PermissionDeniedError("name x is not allowed"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "name x is not allowed");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ToGrpcStatusTest, CutsAHugeMessageSoTheAgentStillSeesTheRefusal) {
  // A message that echoes a 900 KB URL from the request would not fit in a gRPC trailer.
  const std::string message = "order " + std::string(900 * 1024, 'u') + " was not created by web1";
  grpc::Status status = ToGrpcStatus(absl::PermissionDeniedError(message));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_LE(status.error_message().size(), kMaxGrpcStatusMessageBytes + 64);
  EXPECT_THAT(status.error_message(), StartsWith("order uuu"));
  EXPECT_THAT(status.error_message(),
              EndsWith(absl::StrCat("... (", message.size() - kMaxGrpcStatusMessageBytes,
                                    " more bytes not shown)")));
}

TEST(ToGrpcStatusTest, NeverCutsInsideAUtf8Character) {
  // "é" is two bytes; an odd prefix puts the limit inside one of them.
  std::string message = "x";
  while (message.size() < kMaxGrpcStatusMessageBytes + 100) message += "\xC3\xA9";
  grpc::Status status = ToGrpcStatus(absl::InvalidArgumentError(message));
  const std::string& cut = status.error_message();
  const size_t kept = cut.find("... (");
  ASSERT_NE(kept, std::string::npos);
  EXPECT_EQ(kept % 2, 1u) << "the kept prefix must be 'x' plus whole characters";
  EXPECT_THAT(cut, HasSubstr("more bytes not shown"));
}

}  // namespace
}  // namespace acme_signer::signer
