#include "troupe/nodes/run.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>

#include "troupe/nodes/cli.hpp"
#include "troupe/nodes/cookie.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/loopback.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/observe/dashboard_server.hpp"
#include "troupe/nodes/observe/status.hpp"
#include "troupe/nodes/pool/task_runner.hpp"

namespace troupe {
namespace {

using detail::env_name;
using detail::in_range;

// The ranges troupe accepts. A bad value is a usage error (exit 2), never a wrapped number:
// "--workers -3" once started processes without limit, "--max-frame-size 10" hung.
constexpr int64_t max_workers = 1024;
constexpr int64_t max_join_timeout_s = 24 * 3600;
constexpr int64_t min_heartbeat_ms = 10;
constexpr int64_t max_heartbeat_ms = 600000;
constexpr int64_t min_frame_size = 4096;  // the handshake's own frame limit
constexpr int64_t max_frame_size = int64_t{1} << 30;

struct command_line {
  std::string log_level = "warn";
  std::string name;
  std::string listen;
  std::string join;
  std::string secret_file;
  std::string dashboard;  // ADDR:PORT to serve the dashboard on, empty: none
  std::string status;     // HOST:PORT of a head's dashboard to print, then exit
  bool insecure_loopback = false;
  wire::tls_options tls;
  size_t workers = 0;
  unsigned join_timeout_s = 30;
  unsigned heartbeat_interval_ms = 500;
  unsigned heartbeat_timeout_ms = 3000;
  size_t max_frame_size = wire::default_max_frame_size;
  size_t max_connections = node_options{}.max_connections;
  int worker_fd = -1;
  int parent_pid = 0;
};

CLI::Validator endpoint(bool port_zero_allowed) {
  return CLI::Validator{
      [port_zero_allowed](std::string& text) -> std::string {
        std::string host;
        uint16_t port = 0;
        if (!parse_endpoint(text, host, port) || (port == 0 && !port_zero_allowed))
          return std::string{"expects HOST:PORT with a port from "}
                 + (port_zero_allowed ? "0" : "1")
                 + " to 65535 (an IPv6 address in brackets: [::1]:PORT), got '" + text + "'";
        return {};
      },
      "HOST:PORT"};
}

// "http://127.0.0.1:8265/", as the head prints its dashboard, names the same HOST:PORT.
std::string without_url_parts(std::string text) {
  if (text.starts_with("http://"))
    text.erase(0, 7);
  while (text.ends_with("/"))
    text.pop_back();
  return text;
}

void add_common_flags(CLI::App& app, command_line& cl) {
  // Each flag can also come from the environment (TROUPE_...): handy in container manifests.
  auto option = [&](const std::string& names, auto& value, const std::string& help) {
    auto* opt = app.add_option(names, value, help);
    return opt->envname(env_name(opt->get_name()));
  };
  option("--log-level", cl.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  option("--name", cl.name, "this node's name in logs and to its peers");
  option("-w,--workers", cl.workers,
         "worker processes the head starts (default: one per core; 0: none)")
      ->check(in_range(0, max_workers, "a number of worker processes"));
  option("-l,--listen", cl.listen, "accept worker nodes over TCP on ADDR:PORT (port 0 picks one)")
      ->check(endpoint(true));
  option("-j,--join", cl.join, "run as a worker node joining the head at HOST:PORT")
      ->check(endpoint(false));
  option("--join-timeout", cl.join_timeout_s,
         "seconds a joining worker keeps trying to reach its head before it exits with status 1")
      ->check(in_range(1, max_join_timeout_s, "seconds"))
      ->capture_default_str();
  option("--dashboard", cl.dashboard,
         "serve a live dashboard, /api/cluster and Prometheus /metrics on ADDR:PORT (the head; "
         "loopback only unless a cluster secret or TLS is set; port 0 picks one)")
      ->check(endpoint(true));
  option("--status", cl.status,
         "print the cluster of the head whose --dashboard is at HOST:PORT (or the URL it printed) "
         "as a table, then exit")
      ->transform(without_url_parts)
      ->check(endpoint(false));
  option("--secret-file", cl.secret_file,
         "file holding the cluster secret for TCP links (or set TROUPE_SECRET)");
  app.add_flag("--insecure-loopback", cl.insecure_loopback,
               "on loopback without a secret, skip this user's cookie: any local user can join")
      ->envname("TROUPE_INSECURE_LOOPBACK");
  option("--tls-ca", cl.tls.ca_file, "PEM file of the cluster CA (TLS for TCP links)");
  option("--tls-cert", cl.tls.cert_file, "PEM file of this node's certificate");
  option("--tls-key", cl.tls.key_file, "PEM file of this node's private key");
  option("--heartbeat-interval-ms", cl.heartbeat_interval_ms,
         "milliseconds between heartbeats to each peer (less than the heartbeat timeout)")
      ->check(in_range(min_heartbeat_ms, max_heartbeat_ms, "milliseconds"))
      ->capture_default_str();
  option("--heartbeat-timeout-ms", cl.heartbeat_timeout_ms,
         "a peer silent this long, in milliseconds, is declared down")
      ->check(in_range(min_heartbeat_ms, max_heartbeat_ms, "milliseconds"))
      ->capture_default_str();
  option("--max-frame-size", cl.max_frame_size, "largest frame accepted, in bytes")
      ->check(in_range(min_frame_size, max_frame_size, "bytes"))
      ->capture_default_str();
  option("--max-connections", cl.max_connections,
         "connections open at once (workers, joined nodes, handshakes); more TCP connections "
         "are refused")
      ->check(in_range(1, 1 << 20, "a number of connections"))
      ->capture_default_str();
  // Set by a head for the worker processes it starts.
  app.add_option("--troupe-worker-fd", cl.worker_fd)->group("");
  app.add_option("--troupe-parent-pid", cl.parent_pid)->group("");
  app.add_option("--node-name", cl.name)->group("");
}

// A worker process gets everything it needs in its arguments from its head. The head's
// environment, which it inherits, must not reconfigure it: TROUPE_JOIN would turn it into a TCP
// worker, TROUPE_WORKERS=zzz would make it fail to start.
bool started_by_a_head(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--troupe-worker-fd"
        || std::string_view{argv[i]}.rfind("--troupe-worker-fd=", 0) == 0)
      return true;
  return false;
}

void ignore_environment(CLI::App& app) {
  for (auto* opt : app.get_options())
    opt->envname("");
}

// A bad value read from the environment is reported with the variable's name: the user did
// not type that flag, and may not know the variable is set.
std::string with_its_source(CLI::App& app, int argc, char** argv, std::string error) {
  for (auto* opt : app.get_options()) {
    const auto& env = opt->get_envname();
    auto name = opt->get_name();
    if (env.empty() || !std::getenv(env.c_str()) || error.find(name + ":") == std::string::npos)
      continue;
    bool typed = false;
    for (int i = 1; i < argc; ++i) {
      std::string_view arg{argv[i]};
      typed |= arg == name || (arg.starts_with(name) && arg[name.size()] == '=');
    }
    if (!typed)
      return error + " (from " + env + " in the environment)";
  }
  return error;
}

caf::expected<std::string> read_secret(const std::string& path) {
  std::string secret;
  if (!path.empty()) {
    std::ifstream in{path, std::ios::binary};
    if (!in)
      return make_error(errc::auth_failed, "cannot read the secret file " + path);
    secret.assign(std::istreambuf_iterator<char>{in}, {});
  } else if (const char* env = std::getenv("TROUPE_SECRET")) {
    secret = env;
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  return secret;
}

// Signals are taken by one thread (sigwait), never by CAF's threads: a SIGTERM to PID 1 in a
// container must end the process cleanly.
std::atomic<int> stop_signal{0};

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void watch_signals(std::function<void(int)> on_signal) {
  std::thread{[on_signal = std::move(on_signal)] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    if (sigwait(&set, &sig) == 0) {
      stop_signal = sig;
      on_signal(sig);
    }
  }}.detach();
}

node_options make_node_options(const command_line& cl, std::string default_name,
                               std::string secret) {
  node_options opts;
  opts.name = cl.name.empty() ? std::move(default_name) : cl.name;
  opts.secret = std::move(secret);
  opts.tls = cl.tls;
  opts.max_frame_size = cl.max_frame_size;
  opts.max_connections = cl.max_connections;
  opts.heartbeat_interval = std::chrono::milliseconds{cl.heartbeat_interval_ms};
  opts.heartbeat_timeout = std::chrono::milliseconds{cl.heartbeat_timeout_ms};
  opts.log_level = cl.log_level;
  return opts;
}

// Every process of a program knows the same messages, actor types and tasks.
void prepare(config& cfg, const program& prog, bool worker) {
  // A worker process runs its tasks one at a time; two scheduler threads keep its footprint
  // small and leave the cores to the tasks.
  if (worker)
    cfg.set("scheduler.max-threads", 2);
  if (prog.setup)
    prog.setup(cfg);
  add_task_runner(cfg);
}

// The credentials of a TCP link: those given on the command line, else on loopback this user's
// cookie (docs/security.md), unless --insecure-loopback.
struct tcp_credentials {
  std::string secret;
  std::string listen_host;        // a head's address to listen on (on loopback, the one checked)
  bool loopback_default = false;  // on loopback with no secret or TLS given
};

caf::expected<tcp_credentials> credentials_for(const command_line& cl, std::string secret) {
  tcp_credentials creds;
  creds.secret = std::move(secret);
  std::string host;
  uint16_t port = 0;
  parse_endpoint(cl.join.empty() ? cl.listen : cl.join, host, port);
  if (!cl.listen.empty())
    creds.listen_host = host;
  if (host.empty() || !creds.secret.empty() || cl.tls.enabled())
    return creds;
  auto loopback = loopback_address(host);
  if (!loopback)
    return creds;  // not loopback: node::listen asks for credentials, a worker goes without
  creds.loopback_default = true;
  if (!cl.listen.empty())
    creds.listen_host = *loopback;
  if (cl.insecure_loopback)
    return creds;
  auto cookie = local_cookie();
  if (!cookie)
    return std::move(cookie.error());
  creds.secret = std::move(*cookie);
  return creds;
}

// A worker whose head is gone ends at once. The actors the head spawned here can no longer be
// reached, and shutting the actor system down would wait for them forever.
[[noreturn]] void exit_worker(int status) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  log::get().flush();
  std::_Exit(status);
}

// CAF writes to sockets on its multiplexer thread. A function posted there runs after the
// current round of events, and one posted from it after the next round, by which time bytes
// queued before (the Goodbye or TLS alert that tells the head why we refused it) have been
// handed to the kernel. Bounded: a busy multiplexer does not keep a worker from exiting.
void let_pending_writes_leave(caf::actor_system& sys) {
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  auto& mpx = sys.middleman().backend();
  mpx.post([&mpx, done] { mpx.post([done] { done->set_value(); }); });
  finished.wait_for(std::chrono::seconds{1});
}

// A child ended by SIGTERM or SIGINT dies of that signal, so that its parent reads what
// happened (process::exitcode() is -15 after terminate(), as in Python).
[[noreturn]] void die_of(int sig) {
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  std::_Exit(128 + sig);  // not delivered (PID 1 ignores it): the shell's code for the signal
}

// A worker started by a head: serve over the inherited socket until the head goes away.
[[noreturn]] void run_child_worker(const program& prog, const command_line& cl) {
  // Die with the head, even if it is SIGKILLed (EOF on the socket covers the rest).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (cl.parent_pid != 0 && getppid() != cl.parent_pid)
    exit_worker(1);  // the head died before we could ask to die with it
  config cfg;
  prepare(cfg, prog, true);
  caf::actor_system sys{cfg};
  node n{sys, make_node_options(cl, "worker-" + std::to_string(getpid()), {})};
  watch_signals(die_of);
  auto head = detail::node_access::adopt(
      n, cl.worker_fd, "head over socketpair",
      {.role = wire::role::connector, .kind = detail::link_kind::own_socketpair});
  if (!head) {
    log::get().error("cannot join the head: {}", describe(head.error()));
    exit_worker(1);
  }
  auto reason = n.await_down(*head, std::chrono::hours{24 * 365});
  bool clean = reason && is(*reason, errc::shutdown);
  log::get().debug("head gone ({}), exiting", reason ? describe(*reason) : "timeout");
  exit_worker(clean ? 0 : 1);
}

// Host name and pid are not unique in containers (pid 1, a restarted container keeps its host
// name): a random suffix tells incarnations apart in logs and per-worker statistics.
std::string unique_worker_name() {
  char hostname[256] = "host";
  gethostname(hostname, sizeof(hostname) - 1);
  char suffix[8];
  std::snprintf(suffix, sizeof(suffix), "%04x", std::random_device{}() & 0xffffu);
  return std::string{"worker-"} + hostname + "-" + std::to_string(getpid()) + "-" + suffix;
}

// A worker joining over TCP: keep a connection to the head, reconnecting with backoff. It ends
// with 0 when its head finishes, 1 when it cannot reach a head for --join-timeout, 3 when it
// is refused (credentials, protocol version), so that restart policies see a failure.
[[noreturn]] void run_tcp_worker(const program& prog, const command_line& cl,
                                 const tcp_credentials& creds) {
  std::string host;
  uint16_t port = 0;
  parse_endpoint(cl.join, host, port);  // validated with the flags
  config cfg;
  prepare(cfg, prog, true);
  caf::actor_system sys{cfg};
  node n{sys, make_node_options(cl, unique_worker_name(), creds.secret)};
  watch_signals([](int) { std::_Exit(0); });
  auto timeout = std::chrono::seconds{cl.join_timeout_s};
  for (;;) {
    auto head = n.connect(host, port, timeout);
    if (!head) {
      std::cerr << "error: " << describe(head.error());
      if (creds.loopback_default && is(head.error(), errc::auth_failed))
        std::cerr << " (on loopback a head and its workers authenticate with this user's cookie"
                     " unless each is given --insecure-loopback; docs/security.md)";
      std::cerr << std::endl;
      let_pending_writes_leave(sys);
      exit_worker(is(head.error(), errc::connect_failed) ? 1 : 3);
    }
    log::get().info("joined {} at {}", head->name, cl.join);
    auto reason = n.await_down(*head, std::chrono::hours{24 * 365});
    if (reason && is(*reason, errc::shutdown)) {
      log::get().info("head {} finished; exiting", head->name);
      exit_worker(0);
    }
    log::get().warn("lost the head ({}); reconnecting for up to {} s",
                    reason ? describe(*reason) : "timeout", cl.join_timeout_s);
  }
}

// The head's body. An exception escaping it is the program's error, said in one line: an
// invalid argument (such as a pool that could never get a worker) is a usage error (2).
int run_main(const program& prog, node& n, const head_options& head) {
  if (!prog.main)
    return 0;
  try {
    return prog.main(n, head);
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}

// --dashboard: on loopback, or anywhere once the cluster has credentials (the --listen rule).
// Returns the running server, or null after saying why on stderr.
std::unique_ptr<observe::dashboard_server> start_dashboard(caf::actor_system& sys,
                                                           const command_line& cl,
                                                           bool has_credentials,
                                                           const std::string& head_name) {
  std::string host;
  uint16_t port = 0;
  parse_endpoint(cl.dashboard, host, port);  // validated with the flags
  observe::dashboard_server::options opts{.host = host, .port = port, .head_name = head_name};
  if (auto loopback = loopback_address(host)) {
    opts.host = *loopback;
    opts.check_host = true;
  } else if (!has_credentials) {
    std::cerr << "error: refusing to serve the dashboard on " << host
              << " without credentials: it is not (or does not resolve only to) a loopback "
                 "address, and anyone who can reach it could watch this cluster. Set a cluster "
                 "secret (--secret-file or TROUPE_SECRET) or TLS certificates (--tls-ca, "
                 "--tls-cert, --tls-key), or use 127.0.0.1\n";
    return nullptr;
  }
  std::string problem;
  auto server = observe::dashboard_server::start(sys, opts, problem);
  if (!server) {
    std::cerr << "error: " << problem << "\n";
    return nullptr;
  }
  auto shown = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
  std::cerr << "dashboard on http://" << shown << ":" << server->port() << "/" << std::endl;
  return server;
}

int run_head(const program& prog, const command_line& cl, const tcp_credentials& creds,
             bool has_credentials) {
  config cfg;
  prepare(cfg, prog, false);
  caf::actor_system sys{cfg};
  head_options head;
  head.workers = cl.workers;
  head.listen = cl.listen;
  node n{sys, make_node_options(cl, "head", creds.secret)};
  watch_signals([](int sig) {
    log::get().warn("received {}, exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // Worker processes die with us (PR_SET_PDEATHSIG); TCP workers see the connection close.
    std::_Exit(128 + sig);
  });
  // Before the program's main: it sees every worker and pool from the start. Destroyed before
  // the node and the actor system its requests use.
  std::unique_ptr<observe::dashboard_server> dashboard;
  if (!cl.dashboard.empty()) {
    dashboard = start_dashboard(sys, cl, has_credentials, n.options().name);
    if (!dashboard)
      return 1;
  }
  if (!cl.listen.empty()) {
    std::string host;
    uint16_t port = 0;
    parse_endpoint(cl.listen, host, port);  // validated with the flags
    auto bound = n.listen(creds.listen_host, port);
    if (!bound) {
      std::cerr << "error: " << describe(bound.error()) << "\n";
      return 1;
    }
    head.listen_port = *bound;
  }
  return run_main(prog, n, head);
}

// Flags that are each in range but wrong together.
std::string check_combination(const command_line& cl) {
  if (cl.heartbeat_interval_ms >= cl.heartbeat_timeout_ms)
    return "--heartbeat-interval-ms (" + std::to_string(cl.heartbeat_interval_ms)
           + ") must be less than --heartbeat-timeout-ms ("
           + std::to_string(cl.heartbeat_timeout_ms) + "), or every peer is declared down";
  if (!cl.join.empty() && !cl.listen.empty())
    return "--join (run as a worker) and --listen (run as a head) exclude each other";
  if (!cl.join.empty() && !cl.dashboard.empty())
    return "--dashboard is served by the head; a worker node (--join) has none";
  return {};
}

}  // namespace

bool parse_endpoint(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  // An IPv6 address goes in brackets: "::1:80" and "[::1:80" would split at a guess.
  if (host.find_first_of("[]:") != std::string::npos && text.front() != '[')
    return false;
  if (host.find_first_of("[]") != std::string::npos)
    return false;
  try {
    size_t used = 0;
    auto value = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || value > 65535)
      return false;
    port = static_cast<uint16_t>(value);
  } catch (...) {
    return false;
  }
  return true;
}

int run(int argc, char** argv, const program& prog) {
  block_termination_signals();
  CLI::App app{prog.description, prog.name};
  command_line cl;
  cl.workers = std::max(1u, std::thread::hardware_concurrency());
  add_common_flags(app, cl);
  if (prog.options) {
    auto program_flags = detail::flags_access::make(app);
    prog.options(program_flags);
  }
  bool child = started_by_a_head(argc, argv);
  if (child)
    ignore_environment(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The usage first, the error last: the last line is what a head reports when a worker
    // process it started fails here.
    std::cerr << app.help() << "\nerror: " << with_its_source(app, argc, argv, e.what()) << "\n";
    return 2;
  }
  if (auto problem = check_combination(cl); !problem.empty()) {
    std::cerr << "error: " << problem << "\n";
    return 2;
  }
  if (!cl.status.empty() && !child) {
    std::string host;
    uint16_t port = 0;
    parse_endpoint(cl.status, host, port);  // validated with the flags
    // No node runs here: SIGTERM and SIGINT end the command as they end any other.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    return observe::print_status(host, port, std::cout, std::cerr);
  }
  auto node_name = cl.name.empty() ? (child || !cl.join.empty() ? "worker" : "head") : cl.name;
  if (!log::init(node_name, cl.log_level)) {
    std::cerr << "error: unknown log level " << cl.log_level << "\n";
    return 2;
  }
  if (child)
    run_child_worker(prog, cl);
  auto secret = read_secret(cl.secret_file);
  if (!secret) {
    std::cerr << "error: " << describe(secret.error()) << "\n";
    return 2;
  }
  if (cl.tls.enabled()) {
    std::string problem;
    if (!wire::tls_context::make(cl.tls, problem)) {
      std::cerr << "error: " << problem << "\n";
      return 2;
    }
  }
  bool has_credentials = !secret->empty() || cl.tls.enabled();
  auto creds = credentials_for(cl, std::move(*secret));
  if (!creds) {
    std::cerr << "error: " << describe(creds.error()) << "\n";
    return 1;
  }
  if (!cl.join.empty())
    run_tcp_worker(prog, cl, *creds);
  return run_head(prog, cl, *creds, has_credentials);
}

}  // namespace troupe
