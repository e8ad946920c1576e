// The allowlist network policy's parts (src/agents/egress_proxy.h): the allow-list's parsing, the proxy's
// configuration, and a real tinyproxy and socat started and stopped. What an agent inside the sandbox
// can reach through them is tests/hostile/agent_escape_test.cc's.
#include "agents/egress_proxy.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "agents/sandbox.h"

namespace wavebot::agents {
namespace {

namespace fs = std::filesystem;

TEST(EgressProxyTest, UrlsGiveTheirHostAndPort) {
  EXPECT_EQ(UrlHost("https://API.Anthropic.com/v1/messages"), "api.anthropic.com");
  EXPECT_EQ(UrlPort("https://api.anthropic.com/v1"), 443);
  EXPECT_EQ(UrlHost("http://user:pw@127.0.0.1:8080/x"), "127.0.0.1");
  EXPECT_EQ(UrlPort("http://127.0.0.1:8080/x"), 8080);
  EXPECT_EQ(UrlPort("http://example.test"), 80);
  EXPECT_EQ(UrlHost("http://[::1]:9/"), "::1");
  EXPECT_EQ(UrlPort("http://[::1]:9/"), 9);
  EXPECT_EQ(UrlHost("not a url"), "");
}

TEST(EgressProxyTest, ThePresetsReachTheirModelApiOnly) {
  EXPECT_EQ(ModelHosts("claude", {}), std::vector<std::string>{"api.anthropic.com"});
  EXPECT_EQ(ModelHosts("claude", {{"ANTHROPIC_BASE_URL", "http://127.0.0.1:9999"}}),
            std::vector<std::string>{"http://127.0.0.1:9999"});
  EXPECT_EQ(ModelHosts("codex", {{"OPENAI_BASE_URL", "https://llm.corp.test/v1"}}),
            std::vector<std::string>{"https://llm.corp.test/v1"});
  EXPECT_FALSE(ModelHosts("codex", {}).empty());
  // Codex's own provider configuration names its API.
  fs::path home = fs::path(::testing::TempDir()) / "codex-home";
  fs::create_directories(home);
  std::ofstream(home / "config.toml") << "model_provider = \"corp\"\n[model_providers.corp]\nname = \"corp\"\n"
                                         "base_url = \"http://127.0.0.1:4567/v1\"\n";
  EXPECT_EQ(ModelHosts("codex", {{"CODEX_HOME", home.string()}}), std::vector<std::string>{"http://127.0.0.1:4567/v1"});
  EXPECT_TRUE(ModelHosts("script", {{"ANTHROPIC_BASE_URL", "http://x"}}).empty());
}

TEST(EgressProxyTest, AllowListEntriesAreHostsWithAnOptionalPort) {
  auto h = ParseAllowedHost("Registry.NPMJS.org");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->host, "registry.npmjs.org");
  EXPECT_EQ(h->port, 0);
  h = ParseAllowedHost("proxy.corp.test:8443");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->host, "proxy.corp.test");
  EXPECT_EQ(h->port, 8443);
  h = ParseAllowedHost("http://127.0.0.1:4000/v1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->host, "127.0.0.1");
  EXPECT_EQ(h->port, 4000);
  // Anything that could widen the filter or break the config file is refused.
  for (const char* bad : {"", "*.example.com", "evil.test\nFilterDefaultDeny No", "a b", "host:99999", "host:x",
                          "example.com$|.*", "\"quoted\""}) {
    EXPECT_FALSE(ParseAllowedHost(bad).ok()) << bad;
  }
}

TEST(EgressProxyTest, TheFilterMatchesExactlyTheAllowedHosts) {
  ProxyConfig c = TinyproxyConfig({{"api.example.com", 0}, {"127.0.0.1", 4000}}, 1234, "/f", "/l");
  EXPECT_NE(c.config.find("Port 1234\n"), std::string::npos);
  EXPECT_NE(c.config.find("Listen 127.0.0.1\n"), std::string::npos);
  EXPECT_NE(c.config.find("FilterDefaultDeny Yes\n"), std::string::npos);
  EXPECT_NE(c.config.find("ConnectPort 443\n"), std::string::npos);
  EXPECT_NE(c.config.find("ConnectPort 4000\n"), std::string::npos);
  // The filter lines are extended regexes as tinyproxy reads them (FilterType ere, case-insensitive).
  std::vector<std::regex> res;
  for (size_t at = 0, nl; (nl = c.filter.find('\n', at)) != std::string::npos; at = nl + 1) {
    res.emplace_back(c.filter.substr(at, nl - at), std::regex::extended | std::regex::icase);
  }
  ASSERT_EQ(res.size(), 2u);
  auto admitted = [&](const std::string& host) {
    for (const auto& re : res) {
      if (std::regex_search(host, re)) return true;
    }
    return false;
  };
  EXPECT_TRUE(admitted("api.example.com"));
  EXPECT_TRUE(admitted("API.example.com"));
  EXPECT_TRUE(admitted("127.0.0.1"));
  for (const char* other : {"api.example.com.evil.test", "evil-api.example.com", "apixexample.com", "127.0.0.10",
                            "127x0x0x1", "localhost", "example.com"}) {
    EXPECT_FALSE(admitted(other)) << other;
  }
}

bool ConnectsTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The real proxy: an allowed host is forwarded, another is refused and named by Refused(); stopping it
// leaves nothing listening and no files.
TEST(EgressProxyTest, ForwardsTheAllowedRefusesTheRestAndLeavesNothingBehind) {
  ASSERT_TRUE(CheckEgressTools().ok()) << CheckEgressTools().error().ToString();  // scripts/setup.sh installs them
  httplib::Server upstream;
  upstream.Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
  int up_port = upstream.bind_to_any_port("127.0.0.1");
  std::thread t([&] { upstream.listen_after_bind(); });  // bound and listening already: connections queue

  auto proxy = EgressProxy::Start({{"127.0.0.1", 0}});
  ASSERT_TRUE(proxy.ok()) << proxy.error().ToString();
  const std::string sock = (*proxy)->socket_path();
  const int port = (*proxy)->port();
  EXPECT_TRUE(fs::exists(sock));
  EXPECT_EQ(fs::status(fs::path(sock).parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);

  httplib::Client allowed("127.0.0.1", up_port);
  allowed.set_proxy("127.0.0.1", port);
  auto ok = allowed.Get("/hello");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "hi");
  httplib::Client denied("localhost", up_port);  // the same server, by a name not on the list
  denied.set_proxy("127.0.0.1", port);
  auto no = denied.Get("/hello");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 403);
  EXPECT_EQ((*proxy)->Refused(), std::vector<std::string>{"localhost"});

  proxy->reset();
  EXPECT_FALSE(fs::exists(sock));
  EXPECT_FALSE(fs::exists(fs::path(sock).parent_path()));
  EXPECT_FALSE(ConnectsTo(port));
  upstream.stop();
  t.join();
}

TEST(EgressProxyTest, TheAllowlistPolicyNeedsTheProxySocket) {
  SandboxSpec spec;
  spec.network = NetworkPolicy::kAllowlist;
  spec.worktree = ::testing::TempDir();
  spec.home = ::testing::TempDir();
  EXPECT_FALSE(SandboxedCommand(spec, {"/bin/true"}).ok());
  spec.proxy_socket = "/tmp/x.sock";
  auto argv = SandboxedCommand(spec, {"/bin/true"});
  ASSERT_TRUE(argv.ok()) << argv.error().ToString();
  std::string all;
  for (const auto& a : *argv) all += a + " ";
  EXPECT_NE(all.find("--ro-bind /tmp/x.sock /run/wavebot-egress.sock"), std::string::npos) << all;
  EXPECT_NE(all.find("--setenv HTTPS_PROXY http://127.0.0.1:3128"), std::string::npos) << all;
  EXPECT_EQ(all.find("--share-net"), std::string::npos) << all;
  EXPECT_EQ(argv->back(), "/bin/true");
  EXPECT_EQ(ParseNetworkPolicy("allowlist").value(), NetworkPolicy::kAllowlist);
  EXPECT_FALSE(ParseNetworkPolicy("open").ok());
}

}  // namespace
}  // namespace wavebot::agents
