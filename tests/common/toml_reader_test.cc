#include "common/toml_reader.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

toml::table Parse(const std::string& text) {
  absl::StatusOr<toml::table> table = ParseToml(text, "f.toml");
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *std::move(table) : toml::table();
}

std::string Message(const TomlProblems& problems) {
  return std::string(problems.ToStatus().message());
}

TEST(TomlReaderTest, SyntaxErrorNamesFileLineAndColumn) {
  absl::StatusOr<toml::table> table = ParseToml("a = 1\nb = [1,\n", "f.toml");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("f.toml:"));
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("TOML syntax error"));
}

TEST(TomlReaderTest, NoProblemsIsOk) {
  toml::table root = Parse("name = \"x\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, root, "", {}, {"name"});
  EXPECT_EQ(reader.String("name", true), "x");
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(problems.ToStatus().ok());
}

TEST(TomlReaderTest, UnknownKeyIsReportedWithLineQualifiedKeyAndTheKnownKeys) {
  toml::table root = Parse("[server]\nlisten = \"a\"\nlsten = \"b\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader top(problems, root, "", {}, {"server"});
  const toml::table* server = top.Table("server", true);
  ASSERT_NE(server, nullptr);
  TomlTableReader reader(problems, *server, "server", {}, {"listen", "port"});
  EXPECT_THAT(Message(problems),
              HasSubstr("f.toml:3: server.lsten: unknown key (known keys here: listen, port)"));
  EXPECT_EQ(problems.size(), 1u);
}

TEST(TomlReaderTest, WrongTypesNameWhatWasExpectedAndWhatWasFound) {
  toml::table root = Parse("s = 1\nb = \"yes\"\ni = 1.5\na = \"x\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, root, "", {}, {"s", "b", "i", "a"});
  EXPECT_EQ(reader.String("s", false), std::nullopt);
  EXPECT_EQ(reader.Bool("b"), std::nullopt);
  EXPECT_EQ(reader.Int("i", 0, 10), std::nullopt);
  EXPECT_EQ(reader.StringArray("a", false), std::nullopt);
  const std::string message = Message(problems);
  EXPECT_THAT(message, HasSubstr("f.toml:1: s: expected a string, got an integer"));
  EXPECT_THAT(message, HasSubstr("f.toml:2: b: expected a boolean, got a string"));
  EXPECT_THAT(message, HasSubstr("f.toml:3: i: expected an integer, got a float"));
  EXPECT_THAT(message, HasSubstr("f.toml:4: a: expected an array, got a string"));
}

TEST(TomlReaderTest, IntegerOutsideItsRangeIsReportedWithTheRange) {
  toml::table root = Parse("[t]\nport = 0\nok = 8\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, *root.get("t")->as_table(), "t", {}, {"port", "ok"});
  EXPECT_EQ(reader.Int("port", 1, 65535), std::nullopt);
  EXPECT_EQ(reader.Int("ok", 1, 65535), 8);
  EXPECT_THAT(Message(problems), HasSubstr("f.toml:2: t.port: 0 is out of range 1..65535"));
}

TEST(TomlReaderTest, MissingRequiredKeyAndTableAreNamed) {
  toml::table root = Parse("[a]\nx = 1\n");
  TomlProblems problems("f.toml");
  TomlTableReader top(problems, root, "", {}, {"a", "b"});
  const toml::table* a = top.Table("a", true);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(top.Table("b", true), nullptr);
  EXPECT_EQ(top.Table("c", false), nullptr);
  TomlTableReader reader(problems, *a, "a", {}, {"x", "y"});
  EXPECT_EQ(reader.String("y", true), std::nullopt);
  EXPECT_EQ(reader.String("z", false), std::nullopt);  // optional and absent: no problem
  const std::string message = Message(problems);
  EXPECT_THAT(message, HasSubstr("f.toml: b: missing required table [b]"));
  EXPECT_THAT(message, HasSubstr("f.toml:1: a.y: missing required key (in [a])"));
  EXPECT_EQ(problems.size(), 2u);
}

TEST(TomlReaderTest, ATableGivenAsAValueIsRefused) {
  toml::table root = Parse("server = 3\nagents = 1\n");
  TomlProblems problems("f.toml");
  TomlTableReader top(problems, root, "", {}, {"server", "agents"});
  EXPECT_EQ(top.Table("server", true), nullptr);
  EXPECT_EQ(top.TableArray("agents"), nullptr);
  EXPECT_THAT(Message(problems),
              HasSubstr("f.toml:1: server: expected a table ([server]), got an integer"));
  EXPECT_THAT(Message(problems),
              HasSubstr("f.toml:2: agents: expected an array of tables ([[agents]] sections)"));
}

TEST(TomlReaderTest, ArrayOfTablesIsReturned) {
  toml::table root = Parse("[[agents]]\nname = \"a\"\n[[agents]]\nname = \"b\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader top(problems, root, "", {}, {"agents"});
  const toml::array* agents = top.TableArray("agents");
  ASSERT_NE(agents, nullptr);
  EXPECT_EQ(agents->size(), 2u);
  EXPECT_TRUE(problems.empty());
}

TEST(TomlReaderTest, StringIsNonEmptyButStringOrEmptyAcceptsEmpty) {
  toml::table root = Parse("a = \"\"\nb = \"\"\nc = \"x\\u0000y\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, root, "", {}, {"a", "b", "c"});
  EXPECT_EQ(reader.String("a", false), std::nullopt);
  EXPECT_EQ(reader.StringOrEmpty("b"), "");
  EXPECT_EQ(reader.StringOrEmpty("c"), std::nullopt);
  const std::string message = Message(problems);
  EXPECT_THAT(message, HasSubstr("f.toml:1: a: must not be empty"));
  EXPECT_THAT(message, Not(HasSubstr("f.toml:2:")));
  EXPECT_THAT(message, HasSubstr("f.toml:3: c: must not contain NUL characters"));
}

TEST(TomlReaderTest, RelativePathsResolveAgainstTheBaseDirectory) {
  toml::table root = Parse("rel = \"state/../db\"\nabs = \"/var//lib/x\"\nhome = \"~/pin\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, root, "", "/etc/acme-signer", {"rel", "abs", "home"});
  EXPECT_EQ(reader.Path("rel", true), "/etc/acme-signer/db");
  EXPECT_EQ(reader.Path("abs", true), "/var/lib/x");
  EXPECT_EQ(reader.Path("home", true), std::nullopt);
  EXPECT_THAT(Message(problems), HasSubstr("f.toml:3: home: \"~/pin\": '~' is not expanded"));
}

TEST(TomlReaderTest, WithoutABaseDirectoryOnlyAbsolutePathsAreAccepted) {
  toml::table root = Parse("[d]\nca = \"ca.pem\"\nok = \"/etc/ca.pem\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, *root.get("d")->as_table(), "d", {}, {"ca", "ok"});
  EXPECT_EQ(reader.Path("ca", false), std::nullopt);
  EXPECT_EQ(reader.Path("ok", false), "/etc/ca.pem");
  EXPECT_THAT(Message(problems),
              HasSubstr("f.toml:2: d.ca: must be an absolute path, got \"ca.pem\""));
}

TEST(TomlReaderTest, StringArrayElementsAreCheckedAndNamedByIndex) {
  toml::table root = Parse("good = [\"a\", \"b\"]\nbad = [\"a\", 2, \"\"]\nnone = []\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, root, "", {}, {"good", "bad", "none"});
  auto good = reader.StringArray("good", true);
  ASSERT_TRUE(good.has_value());
  ASSERT_EQ(good->size(), 2u);
  EXPECT_EQ((*good)[1].value, "b");
  EXPECT_EQ((*good)[1].key, "good[1]");
  EXPECT_EQ(reader.StringArray("bad", true), std::nullopt);
  auto none = reader.StringArray("none", true);
  ASSERT_TRUE(none.has_value());
  EXPECT_THAT(*none, IsEmpty());
  const std::string message = Message(problems);
  EXPECT_THAT(message, HasSubstr("f.toml:2: bad[1]: expected a string, got an integer"));
  EXPECT_THAT(message, HasSubstr("f.toml:2: bad[2]: must not be empty"));
}

TEST(TomlReaderTest, BadValueIsReportedAtItsKeyOrAtTheTable) {
  toml::table root = Parse("[t]\n\nmode = \"x\"\n");
  TomlProblems problems("f.toml");
  TomlTableReader reader(problems, *root.get("t")->as_table(), "t", {}, {"mode", "size"});
  reader.Bad("mode", "is not a mode");
  reader.Bad("size", "does not fit the mode");
  EXPECT_THAT(Message(problems), HasSubstr("f.toml:3: t.mode: is not a mode"));
  EXPECT_THAT(Message(problems), HasSubstr("f.toml:1: t.size: does not fit the mode"));
}

TEST(TomlReaderTest, ManyProblemsAreSummarisedAfterTheFirstFifty) {
  TomlProblems problems("f.toml");
  for (int i = 0; i < 60; ++i) problems.At(i + 1, absl::StrCat("k", i), "bad");
  const std::string message = Message(problems);
  EXPECT_THAT(message, HasSubstr("f.toml:50: k49: bad"));
  EXPECT_THAT(message, Not(HasSubstr("k50:")));
  EXPECT_THAT(message, HasSubstr("... and 10 more problems"));
  EXPECT_THAT(message, ::testing::StartsWith("invalid configuration:\n"));
}

}  // namespace
}  // namespace acme_signer
