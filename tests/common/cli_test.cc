#include "common/cli.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ArgParser MakeParser() {
  ArgParser parser("acme-agent certonly [options]");
  parser.Value("config", "FILE", "agent configuration")
      .Repeated("domain", "NAME", "a name for the certificate", 'd')
      .Bool("standalone", "serve http-01 from a built-in server")
      .Value("http-01-port", "PORT", "port for --standalone")
      .Required("config");
  return parser;
}

TEST(ArgParserTest, ParsesValuesRepeatsAliasesAndBooleans) {
  ArgParser parser = MakeParser();
  ASSERT_TRUE(parser
                  .Parse({"--config", "/etc/a.toml", "-d", "a.example", "--domain=b.example",
                          "--standalone", "--http-01-port", "8080"})
                  .ok());
  EXPECT_EQ(parser.Get("config"), "/etc/a.toml");
  EXPECT_THAT(parser.GetAll("domain"), ElementsAre("a.example", "b.example"));
  EXPECT_TRUE(parser.Has("standalone"));
  auto port = parser.GetInt("http-01-port", 1, 65535);
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(**port, 8080);
}

TEST(ArgParserTest, UnknownOptionIsNamedInTheError) {
  ArgParser parser = MakeParser();
  auto status = parser.Parse({"--config", "x", "--eab-hmac-key", "secret"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unknown option --eab-hmac-key"));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("secret")));
}

TEST(ArgParserTest, MissingValueAndMissingRequiredOptionAreErrors) {
  ArgParser parser = MakeParser();
  EXPECT_THAT(std::string(parser.Parse({"--config"}).message()), HasSubstr("--config needs a value"));
  EXPECT_THAT(std::string(parser.Parse({"--standalone"}).message()),
              HasSubstr("missing required option --config"));
}

TEST(ArgParserTest, BooleanWithValueAndRepeatedSingleValueAreErrors) {
  ArgParser parser = MakeParser();
  EXPECT_THAT(std::string(parser.Parse({"--config", "a", "--standalone=yes"}).message()),
              HasSubstr("--standalone takes no value"));
  EXPECT_THAT(std::string(parser.Parse({"--config", "a", "--config", "b"}).message()),
              HasSubstr("--config given twice"));
}

TEST(ArgParserTest, StrayPositionalArgumentIsRefused) {
  ArgParser parser = MakeParser();
  EXPECT_THAT(std::string(parser.Parse({"--config", "a", "oops"}).message()),
              HasSubstr("unexpected argument 'oops'"));
}

TEST(ArgParserTest, IntegerOutOfRangeNamesTheFlag) {
  ArgParser parser = MakeParser();
  ASSERT_TRUE(parser.Parse({"--config", "a", "--http-01-port", "70000"}).ok());
  auto port = parser.GetInt("http-01-port", 1, 65535);
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("--http-01-port must be a whole number"));
}

TEST(ArgParserTest, HelpSkipsRequiredChecksAndListsOptions) {
  ArgParser parser = MakeParser();
  ASSERT_TRUE(parser.Parse({"--help"}).ok());
  EXPECT_TRUE(parser.help_requested());
  EXPECT_THAT(parser.Help(), HasSubstr("-d, --domain NAME"));
}

TEST(ArgParserTest, OptionsBeforeASubcommandStopAtTheSubcommand) {
  ArgParser parser = MakeParser();
  auto at = parser.ParseUntilPositional(
      {"--config", "/etc/a.toml", "--standalone", "certonly", "-d", "a.example"});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, 3u);
  EXPECT_EQ(parser.Get("config"), "/etc/a.toml");
  EXPECT_TRUE(parser.Has("standalone"));
}

TEST(ArgParserTest, AValueThatLooksLikeASubcommandIsTheOptionsValue) {
  ArgParser parser = MakeParser();
  auto at = parser.ParseUntilPositional({"--config", "renew", "renew"});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, 2u);
  EXPECT_EQ(parser.Get("config"), "renew");
}

TEST(ArgParserTest, NoSubcommandAndUnknownLeadingOptions) {
  ArgParser parser = MakeParser();
  auto none = parser.ParseUntilPositional({"--standalone"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 1u);  // args.size(): no subcommand; required --config is not checked
  auto unknown = parser.ParseUntilPositional({"--eab-hmac-key", "secret", "certonly"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("unknown option --eab-hmac-key"));
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace acme_signer
