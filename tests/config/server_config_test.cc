#include "config/server_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/log.h"

namespace wavebot::config {
namespace {

class ServerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("wavebot-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ServerConfigTest, DefaultsWithoutFileOrEnvironment) {
  auto c = LoadServerConfig("", {}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->max_body_bytes, 25 * 1024 * 1024);
  EXPECT_EQ(c->github_api, "https://api.github.com");
  EXPECT_EQ(c->DatabasePath(), "./wavebot-data/wavebot.db");
}

TEST_F(ServerConfigTest, TheDashboardListensApartAndIsPrivateByDefault) {
  auto c = LoadServerConfig("", {}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->DashboardListen(), "127.0.0.1:8081");
  EXPECT_FALSE(c->dashboard_public);
  EXPECT_EQ(c->max_connections_per_address, 64);
  EXPECT_EQ(c->max_body_bytes_in_flight, 64 * 1024 * 1024);
  auto any = LoadServerConfig("", {{"WAVEBOT_LISTEN", "0.0.0.0:0"}}, nullptr);
  EXPECT_EQ(any->DashboardListen(), "127.0.0.1:0");
  auto token_file = Write("read-token", "r-token\n");
  auto set = LoadServerConfig("", {{"WAVEBOT_DASHBOARD_LISTEN", "10.0.0.1:9001"}, {"WAVEBOT_DASHBOARD_PUBLIC", "1"},
                                   {"WAVEBOT_READ_TOKEN_FILE", token_file},
                                   {"WAVEBOT_MAX_CONNECTIONS_PER_ADDRESS", "0"}},
                              nullptr);
  ASSERT_TRUE(set.ok()) << set.error().ToString();
  EXPECT_EQ(set->DashboardListen(), "10.0.0.1:9001");
  EXPECT_TRUE(set->dashboard_public);
  EXPECT_EQ(set->read_token, "r-token");
  EXPECT_EQ(set->max_connections_per_address, 0);
  EXPECT_EQ(LoadServerConfig("", {{"WAVEBOT_DASHBOARD_LISTEN", "off"}}, nullptr)->DashboardListen(), "");
  auto file = Write("d.yaml", "dashboard: {listen: '127.0.0.1:7001', read_token: abc, public: false}\n");
  auto from_file = LoadServerConfig(file, {}, nullptr);
  ASSERT_TRUE(from_file.ok()) << from_file.error().ToString();
  EXPECT_EQ(from_file->DashboardListen(), "127.0.0.1:7001");
  EXPECT_EQ(from_file->read_token, "abc");
  EXPECT_FALSE(LoadServerConfig("", {{"WAVEBOT_DASHBOARD_PUBLIC", "yes"}}, nullptr).ok());
  EXPECT_FALSE(LoadServerConfig("", {{"WAVEBOT_DASHBOARD_LISTEN", "nowhere"}}, nullptr).ok());
  EXPECT_FALSE(LoadServerConfig("", {{"WAVEBOT_MAX_BODY_BYTES_IN_FLIGHT", "2048"}}, nullptr).ok());
}

TEST_F(ServerConfigTest, AnUnreadableOrHugeSecretFileNamesWhereItWasSet) {
  auto missing = LoadServerConfig("", {{"WAVEBOT_READ_TOKEN_FILE", (dir_ / "absent").string()}}, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("environment variable WAVEBOT_READ_TOKEN_FILE"), std::string::npos)
      << missing.error().ToString();
  // /dev/zero never ends: the read stops at the cap instead of exhausting memory.
  auto endless = LoadServerConfig("", {{"WAVEBOT_WEBHOOK_SECRET_FILE", "/dev/zero"}}, nullptr);
  ASSERT_FALSE(endless.ok());
  EXPECT_NE(endless.error().message().find("larger than 64 KiB"), std::string::npos) << endless.error().ToString();
  auto secret = Write("secret", "s3cret\r\n");
  auto ok = LoadServerConfig("", {{"WAVEBOT_WEBHOOK_SECRET_FILE", secret}}, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->webhook_secret, "s3cret");
}

TEST_F(ServerConfigTest, FileThenEnvironmentOverrides) {
  auto path = Write("w.yaml",
                    "listen: 0.0.0.0:9000\ndata_dir: /var/lib/wavebot\n"
                    "executor: {max_parallel: 3, alive_interval: 45s}\n"
                    "github: {api: 'https://ghe.example.com/api/v3', resync_interval: 2m}\n");
  auto c = LoadServerConfig(path, {{"WAVEBOT_LISTEN", "127.0.0.1:7000"}, {"WAVEBOT_MAX_PARALLEL", "9"}}, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:7000");
  EXPECT_EQ(c->data_dir, "/var/lib/wavebot");
  EXPECT_EQ(c->max_parallel, 9);
  EXPECT_EQ(c->github_api, "https://ghe.example.com/api/v3");
  EXPECT_EQ(c->resync_interval, std::chrono::minutes(2));
  EXPECT_EQ(c->actions_alive_interval, std::chrono::seconds(45));
}

TEST_F(ServerConfigTest, RetentionAndRefusalReplyIntervalFromFileAndEnvironment) {
  auto defaults = LoadServerConfig("", {}, nullptr);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->delivery_retention, std::chrono::hours(14 * 24));
  EXPECT_EQ(defaults->refusal_reply_interval, std::chrono::hours(1));
  auto path = Write("w.yaml", "webhook: {retention: 30d}\ncommands: {refusal_reply_interval: 10m}\n");
  auto c = LoadServerConfig(path, {}, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->delivery_retention, std::chrono::hours(30 * 24));
  EXPECT_EQ(c->refusal_reply_interval, std::chrono::minutes(10));
  auto e = LoadServerConfig(path, {{"WAVEBOT_DELIVERY_RETENTION", "0"}, {"WAVEBOT_REFUSAL_REPLY_INTERVAL", "2h"}}, nullptr);
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_EQ(e->delivery_retention, std::chrono::seconds(0));
  EXPECT_EQ(e->refusal_reply_interval, std::chrono::hours(2));
  auto bad = LoadServerConfig("", {{"WAVEBOT_DELIVERY_RETENTION", "soon"}}, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("WAVEBOT_DELIVERY_RETENTION"), std::string::npos) << bad.error().message();
}

// The write budget under GitHub's secondary limits (docs/github.md, "The write budget").
TEST_F(ServerConfigTest, WriteBudgetFromFileAndEnvironment) {
  auto defaults = LoadServerConfig("", {}, nullptr);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->write_budget_per_minute, 80);
  EXPECT_EQ(defaults->write_budget_per_hour, 500);
  auto path = Write("w.yaml", "github:\n  write_budget_per_minute: 40\n  write_budget_per_hour: 300\n");
  auto c = LoadServerConfig(path, {}, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->write_budget_per_minute, 40);
  EXPECT_EQ(c->write_budget_per_hour, 300);
  auto e = LoadServerConfig(path, {{"WAVEBOT_GITHUB_WRITES_PER_MINUTE", "0"}, {"WAVEBOT_GITHUB_WRITES_PER_HOUR", "1000"}},
                            nullptr);
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_EQ(e->write_budget_per_minute, 0);
  EXPECT_EQ(e->write_budget_per_hour, 1000);
}

TEST_F(ServerConfigTest, BadWriteBudgetsAreErrorsNamingTheKey) {
  auto path = Write("w.yaml", "github:\n  write_budget_per_minute: -1\n");
  auto c = LoadServerConfig(path, {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find(":2: key 'github.write_budget_per_minute'"), std::string::npos)
      << c.error().message();
  path = Write("w2.yaml", "github:\n  write_budget_per_hour: lots\n");
  c = LoadServerConfig(path, {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("key 'github.write_budget_per_hour'"), std::string::npos) << c.error().message();
  c = LoadServerConfig("", {{"WAVEBOT_GITHUB_WRITES_PER_MINUTE", "80/min"}}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("WAVEBOT_GITHUB_WRITES_PER_MINUTE"), std::string::npos) << c.error().message();
  c = LoadServerConfig("", {{"WAVEBOT_GITHUB_WRITES_PER_HOUR", "-5"}}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("WAVEBOT_GITHUB_WRITES_PER_HOUR"), std::string::npos) << c.error().message();
  c = LoadServerConfig("", {{"WAVEBOT_GITHUB_WRITES_PER_MINUTE", "100"}, {"WAVEBOT_GITHUB_WRITES_PER_HOUR", "50"}},
                       nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("github.write_budget_per_minute (100) is larger than "
                                     "github.write_budget_per_hour (50)"),
            std::string::npos)
      << c.error().message();
}

TEST_F(ServerConfigTest, UnknownKeyNamesFileLineAndKey) {
  auto path = Write("w.yaml", "listen: 127.0.0.1:1\nwebhook:\n  secrett: x\n");
  auto c = LoadServerConfig(path, {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find(path + ":3: key 'webhook.secrett': unknown key"), std::string::npos)
      << c.error().message();
}

TEST_F(ServerConfigTest, BadValuesAreErrors) {
  auto path = Write("w.yaml", "listen: nowhere\n");
  auto c = LoadServerConfig(path, {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find(":1: key 'listen'"), std::string::npos);
  c = LoadServerConfig("", {{"WAVEBOT_MAX_PARALLEL", "many"}}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("WAVEBOT_MAX_PARALLEL"), std::string::npos);
  c = LoadServerConfig("", {{"WAVEBOT_EXECUTOR", "cloud"}}, nullptr);
  ASSERT_FALSE(c.ok());
  c = LoadServerConfig((dir_ / "missing.yaml").string(), {}, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kIo);
}

TEST_F(ServerConfigTest, InlineSecretInReadableFileWarnsAndIsRedacted) {
  auto path = Write("w.yaml", "webhook:\n  secret: inline-secret-value-123\n", 0644);
  std::vector<std::string> warnings;
  auto c = LoadServerConfig(path, {}, &warnings);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("webhook.secret"), std::string::npos);
  EXPECT_EQ(log::Redact("x inline-secret-value-123 y"), "x [REDACTED] y");

  warnings.clear();
  auto private_path = Write("p.yaml", "webhook:\n  secret: another-secret-456\n", 0600);
  ASSERT_TRUE(LoadServerConfig(private_path, {}, &warnings).ok());
  EXPECT_TRUE(warnings.empty());
}

TEST_F(ServerConfigTest, SecretFromFile) {
  auto secret = Write("secret", "from-file-secret-789\n");
  auto c = LoadServerConfig("", {{"WAVEBOT_WEBHOOK_SECRET_FILE", secret}}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->webhook_secret, "from-file-secret-789");
}

TEST_F(ServerConfigTest, ExampleFileInTheRepositoryIsValid) {
  auto c = LoadServerConfig(std::string(WAVEBOT_SOURCE_DIR) + "/config/wavebot.example.yaml", {}, nullptr);
  EXPECT_TRUE(c.ok()) << c.error().ToString();
}

}  // namespace
}  // namespace wavebot::config
