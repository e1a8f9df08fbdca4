// Authentication of TCP links with real processes: a cluster secret (HMAC challenge-response)
// and TLS with the cluster CA's certificates. Strangers (wrong or no secret, a replayed
// handshake, no certificate, another CA's or an expired certificate) are refused and logged,
// never become peers, and the honest cluster keeps working meanwhile. On loopback, without a
// secret, a head and the workers of the same user share that user's cookie: other local users
// are strangers too; and "loopback" is what an address resolves to, not how it is spelled.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "log_capture.hpp"
#include "raw_peer.hpp"
#include "subprocess.hpp"
#include "test_program.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/loopback.hpp"
#include "troupe/nodes/wire/frame.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using troupe::test::Ping;
using troupe::test::Pong;

// Certificates for all tests: a cluster CA with head, worker and expired certificates, and a
// rogue CA with its own node certificate.
const std::string& cert_dir() {
  static const std::string dir = [] {
    std::string d = "/tmp/troupe-test-certs-" + std::to_string(getpid());
    std::string script = std::string{TROUPE_SOURCE_DIR} + "/deploy/make-certs.sh";
    std::string cmd = script + " " + d + " head worker >/dev/null && " + script + " " + d
                      + " expired --expired --reuse-ca >/dev/null && " + script + " " + d
                      + "/rogue evil >/dev/null";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("cannot make test certificates: " + cmd);
    return d;
  }();
  return dir;
}

std::string write_secret(const std::string& name, const std::string& secret) {
  auto path = "/tmp/troupe-test-" + std::to_string(getpid()) + "-" + name;
  std::ofstream{path} << secret << "\n";
  return path;
}

using troupe::test::log_capture;

struct SecureHead : testing::Test {
  troupe::config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<troupe::node> head;
  uint16_t port = 0;
  log_capture logs;

  void start(troupe::node_options opts) {
    troupe::test::head_config(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    opts.name = "head";
    opts.handshake_timeout = 2000ms;
    head = std::make_unique<troupe::node>(*sys, opts);
    auto bound = head->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound) << troupe::describe(bound.error());
    port = *bound;
  }

  void TearDown() override {
    head.reset();
    sys.reset();
  }

  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(port);
  }

  troupe::test::subprocess join(std::vector<std::string> extra) {
    std::vector<std::string> args{troupe::test::self_path(),
                                  "--join",
                                  endpoint(),
                                  "--join-timeout",
                                  "2",
                                  "--log-level",
                                  "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    return troupe::test::start(args);
  }

  std::optional<troupe::peer> peer_with_pid(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& p : head->peers())
        if (static_cast<pid_t>(p.process_id) == pid)
          return p;
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  // The honest peer still answers requests.
  void expect_serves(const troupe::peer& p) {
    auto echo = head->spawn_on(p, "echo");
    ASSERT_TRUE(echo) << troupe::describe(echo.error());
    caf::scoped_actor self{*sys};
    Ping ping;
    ping.set_value(4);
    int64_t got = 0;
    self->request(*echo, 10s, ping)
        .receive([&](const Pong& pong) { got = pong.value(); }, [](caf::error&) {});
    EXPECT_EQ(got, 8);
  }

  // A stranger fails to join: it exits non-zero with `says` in its output, never becomes a peer,
  // the head logged `logged`, and the honest peer keeps working.
  void expect_refused(troupe::test::subprocess& stranger, const std::string& says,
                      const std::string& logged, const troupe::peer& honest) {
    auto status = stranger.wait(30s);
    ASSERT_TRUE(status.has_value()) << "the stranger did not give up: " << stranger.output;
    EXPECT_NE(*status, 0);
    EXPECT_NE(stranger.output.find(says), std::string::npos) << stranger.output;
    EXPECT_TRUE(logs.wait_for(logged)) << logs.text();
    for (auto& p : head->peers())
      EXPECT_EQ(p.id, honest.id) << "a stranger became a peer: " << p.name;
    expect_serves(honest);
  }
};

// -- cluster secret -------------------------------------------------------------------------------

TEST_F(SecureHead, TheRightSecretJoinsAndAWrongOneIsRefused) {
  start([] {
    troupe::node_options opts;
    opts.secret = "the right secret";
    return opts;
  }());
  auto good = join({"--secret-file", write_secret("good", "the right secret")});
  auto honest = peer_with_pid(good.pid, 20s);
  ASSERT_TRUE(honest) << good.output;
  auto bad = join({"--secret-file", write_secret("bad", "a wrong secret")});
  expect_refused(bad, "authentication failed", "rejected handshake", *honest);
}

TEST_F(SecureHead, AWorkerWithoutASecretIsRefused) {
  start([] {
    troupe::node_options opts;
    opts.secret = "s";
    return opts;
  }());
  auto good = join({"--secret-file", write_secret("good2", "s")});
  auto honest = peer_with_pid(good.pid, 20s);
  ASSERT_TRUE(honest) << good.output;
  // --insecure-loopback: without it, a worker on loopback would bring this user's cookie.
  auto none = join({"--insecure-loopback"});
  expect_refused(none, "requires authentication", "rejected handshake", *honest);
}

// Forwards one TCP connection to the head, recording what the client sent.
class recording_proxy {
public:
  explicit recording_proxy(uint16_t target) : target_(target) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { run(); }};
  }
  ~recording_proxy() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string recorded() {
    std::lock_guard<std::mutex> guard{mtx_};
    return client_bytes_;
  }
  uint16_t port = 0;

private:
  void run() {
    pollfd p{fd_, POLLIN, 0};
    while (!stop_ && poll(&p, 1, 50) == 0) {
    }
    if (stop_)
      return;
    int client = accept(fd_, nullptr, nullptr);
    int server = connect_to(target_);
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    char buf[65536];
    while (!stop_) {
      if (poll(fds, 2, 50) <= 0)
        continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP)))
          continue;
        auto n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          close(client);
          close(server);
          return;
        }
        if (i == 0) {
          std::lock_guard<std::mutex> guard{mtx_};
          client_bytes_.append(buf, static_cast<size_t>(n));
        }
        if (write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n)
          return;
      }
    }
    close(client);
    close(server);
  }
  static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    return fd;
  }

  uint16_t target_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mtx_;
  std::string client_bytes_;
};

TEST_F(SecureHead, AReplayedHandshakeIsRefused) {
  start([] {
    troupe::node_options opts;
    opts.secret = "k";
    return opts;
  }());
  // Record an honest worker's handshake on its way to the head.
  recording_proxy proxy{port};
  auto honest_proc = troupe::test::start(
      {troupe::test::self_path(), "--join", "127.0.0.1:" + std::to_string(proxy.port),
       "--secret-file", write_secret("k", "k"), "--log-level", "warn"});
  auto honest = peer_with_pid(honest_proc.pid, 20s);
  ASSERT_TRUE(honest) << honest_proc.output;
  auto recorded = proxy.recorded();
  ASSERT_GT(recorded.size(), 0u);
  // Replay it on a new connection: the head's fresh nonce makes the recorded Auth worthless.
  troupe::test::raw_peer replay{port};
  ASSERT_TRUE(replay.send_bytes(recorded));
  auto bye = replay.read_goodbye(10s);
  ASSERT_TRUE(bye) << "the replay was not refused";
  EXPECT_EQ(bye->code(), static_cast<uint32_t>(errc::auth_failed));
  EXPECT_TRUE(logs.wait_for("rejected handshake")) << logs.text();
  EXPECT_EQ(head->peers().size(), 1u);
  expect_serves(*honest);
}

// -- TLS ------------------------------------------------------------------------------------------

troupe::node_options tls_head() {
  troupe::node_options opts;
  opts.tls = {cert_dir() + "/ca.pem", cert_dir() + "/head.pem", cert_dir() + "/head.key"};
  return opts;
}

std::vector<std::string> tls_flags(const std::string& ca, const std::string& cert,
                                   const std::string& key) {
  return {"--tls-ca", ca, "--tls-cert", cert, "--tls-key", key};
}

struct TlsHead : SecureHead {
  std::optional<troupe::test::subprocess> good;
  std::optional<troupe::peer> honest;

  void SetUp() override {
    start(tls_head());
    const auto& d = cert_dir();
    good.emplace(join(tls_flags(d + "/ca.pem", d + "/worker.pem", d + "/worker.key")));
    honest = peer_with_pid(good->pid, 20s);
    if (!honest)
      good->read_until("\x01never\x01", 1s);
    ASSERT_TRUE(honest) << good->output << logs.text();
  }
};

TEST_F(TlsHead, AWorkerTrustingAnotherCaRefusesTheHead) {
  const auto& d = cert_dir();
  auto wary = join(tls_flags(d + "/rogue/ca.pem", d + "/rogue/evil.pem", d + "/rogue/evil.key"));
  expect_refused(wary, "self-signed certificate in certificate chain", "rejected TLS", *honest);
}

TEST_F(TlsHead, AWorkerWithAClusterCertificateJoinsAndServes) {
  expect_serves(*honest);
  EXPECT_TRUE(logs.wait_for("TLS peer /CN=worker")) << logs.text();
}

TEST_F(TlsHead, AClientWithoutACertificateIsRefused) {
  // openssl's own client: a TLS 1.3 handshake that presents no certificate.
  auto client =
      troupe::test::start({"/usr/bin/openssl", "s_client", "-connect", endpoint(), "-CAfile",
                           cert_dir() + "/ca.pem", "-tls1_3", "-quiet", "-no_ign_eof"});
  auto status = client.wait(30s);
  ASSERT_TRUE(status.has_value()) << client.output;
  EXPECT_TRUE(logs.wait_for("rejected TLS")) << logs.text();
  EXPECT_EQ(head->peers().size(), 1u);
  expect_serves(*honest);
}

TEST_F(TlsHead, APlainTcpWorkerIsRefused) {
  auto plain = join({});
  expect_refused(plain, "could not join", "rejected TLS", *honest);
}

TEST_F(TlsHead, ACertificateFromAnotherCaIsRefused) {
  // The stranger trusts the cluster CA (it is public) but holds another CA's certificate.
  const auto& d = cert_dir();
  auto rogue = join(tls_flags(d + "/ca.pem", d + "/rogue/evil.pem", d + "/rogue/evil.key"));
  expect_refused(rogue, "TLS", "rejected TLS", *honest);
  EXPECT_TRUE(logs.wait_for("unable to get local issuer certificate")) << logs.text();
}

TEST_F(TlsHead, AnExpiredCertificateIsRefused) {
  const auto& d = cert_dir();
  auto old = join(tls_flags(d + "/ca.pem", d + "/expired.pem", d + "/expired.key"));
  expect_refused(old, "TLS", "rejected TLS", *honest);
  EXPECT_TRUE(logs.wait_for("certificate has expired")) << logs.text();
}

// -- loopback: what the address resolves to, and this user's cookie -------------------------------

TEST(Loopback, IsWhatTheAddressResolvesToNotHowItIsSpelled) {
  EXPECT_EQ(troupe::loopback_address("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(troupe::loopback_address("127.8.9.10"), "127.8.9.10");
  EXPECT_EQ(troupe::loopback_address("::1"), "::1");
  EXPECT_TRUE(troupe::loopback_address("localhost").has_value());
  EXPECT_FALSE(troupe::loopback_address("0.0.0.0"));
  EXPECT_FALSE(troupe::loopback_address("::"));
  EXPECT_FALSE(troupe::loopback_address("10.1.2.3"));
  EXPECT_FALSE(troupe::loopback_address("127.no-such-host.invalid"));
}

// Runs `args` with `env` (VAR=value, or -u VAR) in front, through env(1).
troupe::test::subprocess start_with(const std::vector<std::string>& env,
                                    const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return troupe::test::start(argv);
}

// A fresh home directory (mode 0700) for one test, removed after it.
struct fresh_home {
  fresh_home() {
    char pattern[] = "/tmp/troupe-test-home-XXXXXX";
    if (mkdtemp(pattern) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir = pattern;
  }
  ~fresh_home() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  // The environment that makes a process use this home, and no runtime directory.
  std::vector<std::string> env() const {
    return {"-u", "XDG_RUNTIME_DIR", "HOME=" + dir};
  }
  std::string dir;
};

// A head of the test program listening on loopback; its port, once it says it is ready.
struct loopback_head {
  explicit loopback_head(const std::vector<std::string>& env,
                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{troupe::test::self_path(),
                                  "head-for-test",
                                  "--workers",
                                  "0",
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--log-level",
                                  "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    process.emplace(start_with(env, args));
    if (!process->read_until("ready", 30s))
      return;
    auto at = process->output.find("listening ");
    if (at != std::string::npos)
      endpoint = "127.0.0.1:" + std::to_string(std::stoi(process->output.substr(at + 10)));
  }
  std::optional<troupe::test::subprocess> process;
  std::string endpoint;  // empty if it did not start
};

std::vector<std::string> join_args(const std::string& endpoint,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{
      troupe::test::self_path(), "--join", endpoint, "--join-timeout", "2", "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(Cookie, ALoopbackHeadAndItsWorkersShareACookieOnlyTheirUserCanRead) {
  fresh_home home;
  loopback_head head{home.env()};
  ASSERT_FALSE(head.endpoint.empty()) << head.process->output;
  EXPECT_EQ(mode_of(home.dir + "/.troupe"), 0700u);
  EXPECT_EQ(mode_of(home.dir + "/.troupe/cookie"), 0600u) << "no private cookie file";
  auto worker = start_with(home.env(), join_args(head.endpoint));
  EXPECT_TRUE(head.process->read_until("joined " + std::to_string(worker.pid), 30s))
      << head.process->output << worker.output;
}

TEST(Cookie, TheRuntimeDirectoryIsPreferredWhenItIsUsable) {
  fresh_home home;
  auto runtime = home.dir + "/run";
  ASSERT_EQ(mkdir(runtime.c_str(), 0700), 0);
  std::vector<std::string> env{"HOME=" + home.dir, "XDG_RUNTIME_DIR=" + runtime};
  loopback_head head{env};
  ASSERT_FALSE(head.endpoint.empty()) << head.process->output;
  EXPECT_EQ(mode_of(runtime + "/troupe/cookie"), 0600u);
  EXPECT_EQ(mode_of(home.dir + "/.troupe"), 0u) << "the home directory was used instead";
  auto worker = start_with(env, join_args(head.endpoint));
  EXPECT_TRUE(head.process->read_until("joined " + std::to_string(worker.pid), 30s))
      << head.process->output << worker.output;
}

TEST(Cookie, HeadsStartingAtOnceAgreeOnOneCookie) {
  fresh_home home;
  std::vector<std::unique_ptr<loopback_head>> heads;
  {
    // Started together, before any of them has made the cookie.
    std::vector<std::thread> starting;
    std::mutex mtx;
    for (int i = 0; i < 4; ++i)
      starting.emplace_back([&] {
        auto head = std::make_unique<loopback_head>(home.env());
        std::lock_guard<std::mutex> guard{mtx};
        heads.push_back(std::move(head));
      });
    for (auto& t : starting)
      t.join();
  }
  for (auto& head : heads) {
    ASSERT_FALSE(head->endpoint.empty()) << head->process->output;
    auto worker = start_with(home.env(), join_args(head->endpoint));
    EXPECT_TRUE(head->process->read_until("joined " + std::to_string(worker.pid), 30s))
        << "a worker could not join one of the heads: " << worker.output;
  }
  EXPECT_EQ(mode_of(home.dir + "/.troupe/cookie"), 0600u) << "no private cookie file";
}

// A local user other than the head's: uid 65534 (nobody), with a home of its own.
bool can_switch_users() {
  return geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0;
}

// Copies the troupe libraries this process has loaded (libtroupe.so when it is built shared)
// into dir, so that a copy of a test program there finds them without the build tree.
void copy_loaded_troupe_libraries(const std::string& dir) {
  std::ifstream maps{"/proc/self/maps"};
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos)
      continue;
    std::filesystem::path library{line.substr(slash)};
    auto name = library.filename().string();
    if (name.rfind("libtroupe", 0) != 0 || name.find(".so") == std::string::npos)
      continue;
    auto copy = dir + "/" + name;
    std::error_code ignored;
    if (std::filesystem::exists(copy, ignored))
      continue;
    std::filesystem::copy_file(library, copy, ignored);
    chmod(copy.c_str(), 0755);
  }
}

// Runs args as uid 65534 from a copy of the program (and of libtroupe.so) in that user's home:
// the build tree may lie under a directory the other user cannot enter (a clone in /root, a
// container's /project).
troupe::test::subprocess start_as_other_user(const fresh_home& home,
                                             const std::vector<std::string>& args) {
  auto program = home.dir + "/" + std::filesystem::path{args.front()}.filename().string();
  std::error_code copied;
  std::filesystem::copy_file(args.front(), program,
                             std::filesystem::copy_options::overwrite_existing, copied);
  chmod(program.c_str(), 0755);
  copy_loaded_troupe_libraries(home.dir);
  std::vector<std::string> argv{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                "--clear-groups", "/usr/bin/env"};
  auto env = home.env();
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back("LD_LIBRARY_PATH=" + home.dir);
  argv.push_back(program);
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return troupe::test::start(argv);
}

TEST(Cookie, AnotherLocalUserCannotJoinALoopbackHead) {
  if (!can_switch_users())
    GTEST_SKIP() << "needs root and setpriv to run a worker as another user";
  fresh_home home;
  loopback_head head{home.env()};
  ASSERT_FALSE(head.endpoint.empty()) << head.process->output;
  auto honest = start_with(home.env(), join_args(head.endpoint));
  ASSERT_TRUE(head.process->read_until("joined " + std::to_string(honest.pid), 30s))
      << head.process->output << honest.output;
  fresh_home other;
  ASSERT_EQ(chown(other.dir.c_str(), 65534, 65534), 0);
  // With a cookie of its own, and without any secret.
  for (auto extra : {std::vector<std::string>{}, std::vector<std::string>{"--insecure-loopback"}}) {
    SCOPED_TRACE(testing::PrintToString(extra));
    auto stranger = start_as_other_user(other, join_args(head.endpoint, extra));
    auto status = stranger.wait(30s);
    ASSERT_TRUE(status.has_value()) << "the stranger did not give up: " << stranger.output;
    EXPECT_NE(*status, 0) << stranger.output;
    EXPECT_NE(stranger.output.find("authentication"), std::string::npos) << stranger.output;
    head.process->read_until("\x01never\x01", 500ms);
    EXPECT_EQ(head.process->output.find("joined " + std::to_string(stranger.pid)),
              std::string::npos)
        << "another user joined the head";
  }
}

TEST(Cookie, AnUnsafeCookieDirectoryOrFileIsRefusedSayingWhy) {
  struct unsafe {
    std::string what;
    std::function<void(const std::string& dir)> make;
    std::string says;
  };
  const std::vector<unsafe> cases = {
      {"a directory others can enter", [](const std::string& dir) { mkdir(dir.c_str(), 0755); },
       "can be accessed by group or others (mode 0755)"},
      {"a file others can read",
       [](const std::string& dir) {
         mkdir(dir.c_str(), 0700);
         std::ofstream{dir + "/cookie"} << "guessable\n";
         chmod((dir + "/cookie").c_str(), 0644);
       },
       "can be accessed by group or others (mode 0644)"},
      {"another user's directory",
       [](const std::string& dir) {
         mkdir(dir.c_str(), 0700);
         if (chown(dir.c_str(), 65534, 65534) != 0)
           throw std::runtime_error("chown failed");
       },
       "belongs to uid 65534"},
      {"a symbolic link instead of a file",
       [](const std::string& dir) {
         mkdir(dir.c_str(), 0700);
         if (symlink("/etc/hostname", (dir + "/cookie").c_str()) != 0)
           throw std::runtime_error("symlink failed");
       },
       "/.troupe/cookie"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    if (c.what == "another user's directory" && geteuid() != 0)
      continue;  // only root can give a directory away
    fresh_home home;
    c.make(home.dir + "/.troupe");
    loopback_head head{home.env()};
    EXPECT_TRUE(head.endpoint.empty()) << "the head listened anyway: " << head.process->output;
    auto status = head.process->wait(30s);
    ASSERT_TRUE(status.has_value()) << head.process->output;
    EXPECT_NE(*status, 0);
    EXPECT_NE(head.process->output.find("cannot use the troupe cookie"), std::string::npos)
        << head.process->output;
    EXPECT_NE(head.process->output.find(c.says), std::string::npos) << head.process->output;
  }
}

TEST(Cookie, InsecureLoopbackKeepsLoopbackOpenToLocalUsers) {
  fresh_home home;
  for (auto how : {std::vector<std::string>{"--insecure-loopback"},
                   std::vector<std::string>{"TROUPE_INSECURE_LOOPBACK=1"}}) {
    SCOPED_TRACE(how.front());
    bool flag = how.front().rfind("--", 0) == 0;
    auto env = home.env();
    if (!flag)
      env.push_back(how.front());
    loopback_head head{env, flag ? how : std::vector<std::string>{}};
    ASSERT_FALSE(head.endpoint.empty()) << head.process->output;
    auto worker =
        start_with(env, join_args(head.endpoint, flag ? how : std::vector<std::string>{}));
    EXPECT_TRUE(head.process->read_until("joined " + std::to_string(worker.pid), 30s))
        << head.process->output << worker.output;
  }
  EXPECT_EQ(mode_of(home.dir + "/.troupe"), 0u) << "a cookie was made anyway";
}

TEST(Cookie, AWorkerAndAHeadThatDisagreeOnInsecureLoopbackAreToldWhy) {
  fresh_home home;
  for (bool insecure_head : {true, false}) {
    SCOPED_TRACE(insecure_head ? "insecure head" : "insecure worker");
    std::vector<std::string> insecure{"--insecure-loopback"};
    loopback_head head{home.env(), insecure_head ? insecure : std::vector<std::string>{}};
    ASSERT_FALSE(head.endpoint.empty()) << head.process->output;
    auto worker =
        start_with(home.env(),
                   join_args(head.endpoint, insecure_head ? std::vector<std::string>{} : insecure));
    auto status = worker.wait(30s);
    ASSERT_TRUE(status.has_value()) << worker.output;
    EXPECT_EQ(*status, 3) << worker.output;
    EXPECT_NE(worker.output.find("authenticate with this user's cookie unless each is given "
                                 "--insecure-loopback"),
              std::string::npos)
        << worker.output;
  }
}

// Runs `args` in a mount namespace of its own where /etc/hosts says `hosts`: a name resolving
// where the test wants, without touching the machine's resolver.
std::optional<troupe::test::subprocess> start_with_hosts(const std::string& hosts,
                                                         const std::vector<std::string>& args) {
  if (geteuid() != 0 || std::system("/usr/bin/unshare -m /bin/true 2>/dev/null") != 0)
    return std::nullopt;
  std::vector<std::string> argv{"/usr/bin/unshare",
                                "-m",
                                "/bin/sh",
                                "-c",
                                "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
                                hosts};
  argv.insert(argv.end(), args.begin(), args.end());
  return troupe::test::start(argv);
}

TEST(Loopback, ANameThatOnlyLooksLikeLoopbackIsNotListenedOnWithoutCredentials) {
  // "127.evil.example" starts like a loopback address; it resolves to every interface.
  auto hosts = write_secret("hosts", "0.0.0.0 127.evil.example\n127.0.0.1 localhost");
  for (auto extra : {std::vector<std::string>{}, std::vector<std::string>{"--insecure-loopback"}}) {
    SCOPED_TRACE(testing::PrintToString(extra));
    std::vector<std::string> args{
        troupe::test::self_path(), "head-for-test", "--workers", "0", "--listen",
        "127.evil.example:0",      "--log-level",   "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto head = start_with_hosts(hosts, args);
    if (!head)
      GTEST_SKIP() << "needs root and unshare to give the test its own /etc/hosts";
    auto status = head->wait(30s);
    ASSERT_TRUE(status.has_value()) << "it listened: " << head->output;
    EXPECT_EQ(*status, 1) << head->output;
    EXPECT_NE(head->output.find("refusing to listen on 127.evil.example without credentials"),
              std::string::npos)
        << head->output;
  }
}

}  // namespace
