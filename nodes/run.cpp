#include "troupe/nodes/run.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <iostream>
#include <thread>

#include <caf/actor_system.hpp>

#include "troupe/nodes/log.hpp"
#include "troupe/nodes/task_runner.hpp"

namespace troupe {
namespace {

struct command_line {
  std::string log_level = "warn";
  std::string name;
  std::string listen;
  std::string join;
  std::string secret_file;
  wire::tls_options tls;
  size_t workers = 0;
  unsigned join_timeout_s = 30;
  unsigned heartbeat_interval_ms = 500;
  unsigned heartbeat_timeout_ms = 3000;
  size_t max_frame_size = wire::default_max_frame_size;
  int worker_fd = -1;
  int parent_pid = 0;
};

void add_common_flags(CLI::App& app, command_line& cl) {
  // Each flag can also come from the environment (TROUPE_...): handy in container manifests.
  app.add_option("--log-level", cl.log_level, "trace, debug, info, warn, error or off")
    ->envname("TROUPE_LOG_LEVEL")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
    ->capture_default_str();
  app.add_option("--name", cl.name, "this node's name in logs and to its peers")
    ->envname("TROUPE_NAME");
  app.add_option("-w,--workers", cl.workers,
                 "worker processes the head starts (default: one per core; 0: none)")
    ->envname("TROUPE_WORKERS");
  app.add_option("-l,--listen", cl.listen,
                 "accept worker nodes over TCP on ADDR:PORT (port 0 picks one)")
    ->envname("TROUPE_LISTEN");
  app.add_option("-j,--join", cl.join, "run as a worker node joining the head at HOST:PORT")
    ->envname("TROUPE_JOIN");
  app.add_option("--join-timeout", cl.join_timeout_s,
                 "seconds a joining worker keeps trying to reach its head")
    ->envname("TROUPE_JOIN_TIMEOUT")
    ->capture_default_str();
  app.add_option("--secret-file", cl.secret_file,
                 "file holding the cluster secret for TCP links (or set TROUPE_SECRET)")
    ->envname("TROUPE_SECRET_FILE");
  app.add_option("--tls-ca", cl.tls.ca_file, "PEM file of the cluster CA (TLS for TCP links)")
    ->envname("TROUPE_TLS_CA");
  app.add_option("--tls-cert", cl.tls.cert_file, "PEM file of this node's certificate")
    ->envname("TROUPE_TLS_CERT");
  app.add_option("--tls-key", cl.tls.key_file, "PEM file of this node's private key")
    ->envname("TROUPE_TLS_KEY");
  app.add_option("--heartbeat-interval-ms", cl.heartbeat_interval_ms)->capture_default_str();
  app.add_option("--heartbeat-timeout-ms", cl.heartbeat_timeout_ms,
                 "a peer silent this long is declared down")
    ->capture_default_str();
  app.add_option("--max-frame-size", cl.max_frame_size, "largest frame accepted, in bytes")
    ->capture_default_str();
  // Set by a head for the worker processes it starts.
  app.add_option("--troupe-worker-fd", cl.worker_fd)->group("");
  app.add_option("--troupe-parent-pid", cl.parent_pid)->group("");
  app.add_option("--node-name", cl.name)->group("");
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

// A worker whose head is gone ends at once. The actors the head spawned here can no longer be
// reached, and shutting the actor system down would wait for them forever.
[[noreturn]] void exit_worker(int status) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  log::get().flush();
  std::_Exit(status);
}

// A worker started by a head: serve over the inherited socket until the head goes away.
int run_child_worker(const program& prog, const command_line& cl) {
  // Die with the head, even if it is SIGKILLed (EOF on the socket covers the rest).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (cl.parent_pid != 0 && getppid() != cl.parent_pid)
    return 1;  // the head died before we could ask to die with it
  config cfg;
  prepare(cfg, prog, true);
  caf::actor_system sys{cfg};
  node n{sys, make_node_options(cl, "worker-" + std::to_string(getpid()), {})};
  watch_signals([](int) { std::_Exit(0); });
  auto head = n.adopt(cl.worker_fd, "head over socketpair", false, false);
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

// A worker joining over TCP: keep a connection to the head, reconnecting with backoff.
int run_tcp_worker(const program& prog, const command_line& cl, const std::string& secret) {
  std::string host;
  uint16_t port = 0;
  if (!parse_endpoint(cl.join, host, port)) {
    std::cerr << "error: --join expects HOST:PORT, got '" << cl.join << "'\n";
    return 2;
  }
  config cfg;
  prepare(cfg, prog, true);
  caf::actor_system sys{cfg};
  node n{sys, make_node_options(cl, unique_worker_name(), secret)};
  watch_signals([](int) { std::_Exit(0); });
  auto timeout = std::chrono::seconds{cl.join_timeout_s};
  for (;;) {
    auto head = n.connect(host, port, timeout);
    if (!head) {
      // No actor of a head lives here: a normal exit flushes what is still being written
      // (such as the Goodbye that tells the head why).
      std::cerr << "error: " << describe(head.error()) << std::endl;
      return is(head.error(), errc::connect_failed) ? 1 : 3;
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

int run_head(const program& prog, const command_line& cl, const std::string& secret) {
  config cfg;
  prepare(cfg, prog, false);
  caf::actor_system sys{cfg};
  head_options head;
  head.workers = cl.workers;
  head.listen = cl.listen;
  node n{sys, make_node_options(cl, "head", secret)};
  watch_signals([](int sig) {
    log::get().warn("received {}, exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // Worker processes die with us (PR_SET_PDEATHSIG); TCP workers see the connection close.
    std::_Exit(128 + sig);
  });
  if (!cl.listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!parse_endpoint(cl.listen, host, port)) {
      std::cerr << "error: --listen expects ADDR:PORT, got '" << cl.listen << "'\n";
      return 2;
    }
    auto bound = n.listen(host, port);
    if (!bound) {
      std::cerr << "error: " << describe(bound.error()) << "\n";
      return 1;
    }
    head.listen_port = *bound;
  }
  return prog.main ? prog.main(n, head) : 0;
}

}  // namespace

bool parse_endpoint(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
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
  if (prog.options)
    prog.options(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    std::cerr << "\n" << app.help();
    return 2;
  }
  auto node_name = cl.name.empty() ? (cl.worker_fd >= 0 || !cl.join.empty() ? "worker" : "head")
                                   : cl.name;
  if (!log::init(node_name, cl.log_level)) {
    std::cerr << "error: unknown log level " << cl.log_level << "\n";
    return 2;
  }
  if (cl.worker_fd >= 0)
    return run_child_worker(prog, cl);
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
  if (!cl.join.empty())
    return run_tcp_worker(prog, cl, *secret);
  return run_head(prog, cl, *secret);
}

}  // namespace troupe
