#!/usr/bin/env python3
"""The dashboard for real (issue 13): a mandelbrot head with two worker processes and
--dashboard 127.0.0.1:0, watched over HTTP, by promtool, by a Prometheus server and by headless
Chromium. One scenario per run, named by the first argument:

  api         /api/cluster lists the workers, tasks done rise, a SIGKILLed worker shows as down and
              its replacement as up; /metrics passes `promtool check metrics`; a foreign Host
              header gets 403; --status prints the table, and fails with a clear message once
              the head is gone
  prometheus  a Prometheus server (own port, own temp dir) scrapes the head and its HTTP API
              reports troupe_tasks_completed_total > 0 for each worker
  browser     Chromium reads the worker count and tasks done from the page's DOM, twice (rising),
              sees a killed worker down and its replacement up, and saves a screenshot
  refuse      a non-loopback bind without credentials is refused (status 1); with a secret it
              serves; a worker node (--join) with --dashboard is a usage error (status 2)
  hostile     4 clients each sending a million short header lines: the head's RSS stays within
              64 MiB of its value before; 1000 idle connections and 8 slowloris clients
              trickling a header: GET /api/cluster still answers within 2 s, again and again;
              garbage bytes and a huge header besides: the head still renders and exits
  status      --status against servers that are not troupe heads (one that never answers, one
              that trickles its answer, one that sends 100 MB, one that sends HTML): each ends
              with status 1 and one clear line within its 10 s deadline

Every wait is bounded; every process started here is killed by its pid at the end. Exits 77
(ctest SKIP_RETURN_CODE) with the reason when the machine lacks a tool the scenario needs."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SKIP = 77


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def skip(message):
    print("SKIP: " + message, flush=True)
    sys.exit(SKIP)


def wait_for(what, check, timeout, interval=0.2):
    """Polls check() until it returns something true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError, urllib.error.URLError) as e:
            last = e
        time.sleep(interval)
    fail(f"{what}: not within {timeout} s (last: {last!r})")


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as res:
        return res.read().decode()


class Head:
    """A mandelbrot head with --dashboard on a port it picks; stderr read for the address."""

    def __init__(self, binary, workdir, extra=(), iterations=20000, env=None):
        self.log_path = os.path.join(workdir, "head.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--workers", "2", "--iterations", str(iterations), "--out",
             os.path.join(workdir, "m.png"), "--dashboard", "127.0.0.1:0", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir, env=env)
        try:
            m = wait_for("the head announces its dashboard", self.announced, 20)
        except SystemExit:
            self.kill()
            print("its output:\n" + self.output(), flush=True)
            raise
        self.address = f"{m.group(1)}:{m.group(2)}"
        self.url = f"http://{self.address}/"

    def announced(self):
        m = re.search(r"dashboard on http://([0-9.]+):(\d+)/", self.output())
        if not m and self.proc.poll() is not None:
            fail(f"the head exited with {self.proc.returncode} before it announced its "
                 f"dashboard:\n{self.output()}")
        return m

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def cluster(self):
        return json.loads(get(self.url + "api/cluster"))

    def finish(self, timeout=120):
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail(f"the head did not finish within {timeout} s; its output:\n" + self.output())
        if status != 0:
            fail(f"the head exited with {status}; its output:\n" + self.output())
        if "wrote " not in self.output():
            fail("the head did not write its image:\n" + self.output())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def tasks_done(cluster):
    return sum(p["tasks_completed"] for p in cluster["pools"])


def workers_up(cluster):
    return [n for n in cluster["nodes"] if n["state"] == "up" and n["kind"] == "child"]


def kill_a_worker_and_see_it_replaced(head):
    """SIGKILLs one worker; returns once the API shows it down and a replacement up."""
    victim = workers_up(wait_for("two workers up", lambda: len(workers_up(head.cluster())) == 2
                                 and head.cluster(), 20))[0]
    os.kill(victim["pid"], signal.SIGKILL)

    def replaced():
        c = head.cluster()
        down = [n for n in c["nodes"] if n["id"] == victim["id"] and n["state"] == "down"]
        return c if down and len(workers_up(c)) == 2 and c["pools"] and \
            c["pools"][0]["respawned"] >= 1 and c["pools"][0]["worker_deaths"] >= 1 else None
    return victim, wait_for("the killed worker down and a replacement up", replaced, 20)


def scenario_api(binary, workdir):
    head = Head(binary, workdir)
    try:
        first = wait_for("two workers and some tasks done",
                         lambda: (c := head.cluster()) and len(workers_up(c)) == 2
                         and tasks_done(c) > 0 and c, 20)
        wait_for("tasks done rising", lambda: tasks_done(head.cluster()) > tasks_done(first), 20)
        names = sorted(n["name"] for n in workers_up(first))
        metrics = get(head.url + "metrics")
        for name in names:
            if not re.search(r'troupe_tasks_completed_total\{[^}]*node="%s"[^}]*\} [0-9.e+]+'
                             % re.escape(name), metrics):
                fail(f"/metrics has no troupe_tasks_completed_total for {name}:\n{metrics}")
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run([promtool, "check", "metrics"], input=metrics, text=True,
                                   capture_output=True, timeout=30)
            if check.returncode != 0:
                fail(f"promtool check metrics: {check.stdout}{check.stderr}\n{metrics}")
        for where in (head.address, head.url):  # HOST:PORT, or the URL the head printed
            status = subprocess.run([binary, "--status", where], capture_output=True,
                                    text=True, timeout=30)
            if status.returncode != 0 or not all(n in status.stdout for n in names):
                fail(f"--status {where}: {status.returncode}\n{status.stdout}{status.stderr}")
        victim, after = kill_a_worker_and_see_it_replaced(head)
        if victim["name"] in [n["name"] for n in workers_up(after)]:
            fail("the killed worker still shows as up")
        # DNS rebinding: a page from elsewhere that resolves its own name to 127.0.0.1.
        host, port = head.address.split(":")
        # Names, even ones that start like a loopback address, and addresses with a tail.
        for name in ("rebound.example:" + port, "127.rebound.example:" + port,
                     "127.0.0.1.nip.io", f"127.0.0.1:{port}.rebound.example", "[::1].rebound",
                     "127.0.0.1@rebound.example", f"127.0.0.1:{port}x"):
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/api/cluster", headers={"Host": name})
            if (status := conn.getresponse().status) != 403:
                fail(f"a request for Host {name} got {status}, not 403")
            conn.close()
        # One small request must not ask for the page many times over.
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/", headers={"Range": "bytes=" + ",".join(["0-"] * 2000)})
        if (status := conn.getresponse().status) != 416:
            fail(f"a request for 2000 ranges of the page got {status}, not 416")
        conn.close()
        conn.close()
        pools = json.loads(get(head.url + "api/pools"))["pools"]
        if len(pools) != 1 or pools[0]["tasks_completed"] <= 0:
            fail(f"/api/pools: {pools}")
        head.finish()
        gone = subprocess.run([binary, "--status", head.address], capture_output=True, text=True,
                              timeout=30)
        if gone.returncode == 0 or "cannot reach a troupe head" not in gone.stderr:
            fail(f"--status of a finished head: {gone.returncode} {gone.stderr!r}")
        if not promtool:
            skip("everything passed except promtool check metrics: promtool is not installed "
                 "(Debian's prometheus package)")
    finally:
        head.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario_prometheus(binary, workdir):
    server = shutil.which("prometheus")
    if not server:
        skip("no prometheus server (Debian's prometheus package)")
    head = Head(binary, workdir, iterations=40000)
    prom = None
    try:
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: troupe\n    static_configs:\n"
                    f"      - targets: ['{head.address}']\n")
        port = free_port()
        prom_log = open(os.path.join(workdir, "prometheus.log"), "w")
        prom = subprocess.Popen(
            [server, f"--config.file={config}", f"--storage.tsdb.path={workdir}/tsdb",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=prom_log,
            stderr=subprocess.STDOUT, cwd=workdir)
        query = "max_over_time(troupe_tasks_completed_total[5m])"
        url = f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.request.quote(query)

        def per_worker():
            result = json.loads(get(url))["data"]["result"]
            done = {r["metric"]["node"]: float(r["value"][1]) for r in result}
            return done if len(done) >= 2 and all(v > 0 for v in done.values()) else None
        done = wait_for("Prometheus sees troupe_tasks_completed_total > 0 for each worker",
                        per_worker, 60, interval=0.5)
        print(f"prometheus: {done}")
        head.finish()
    finally:
        if prom and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(timeout=10)
        head.kill()


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def chromium(browser, workdir, *args, budget_ms=2500):
    # The virtual time budget lets the page's polls run before the DOM is read.
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={workdir}/chromium", f"--virtual-time-budget={budget_ms}"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=60)


def page_numbers(dom):
    up = re.search(r'id="workers-up">(\d+)<', dom)
    done = re.search(r'id="tasks-done">([\d,]+)<', dom)
    if not up or not done:
        return None
    return int(up.group(1)), int(done.group(1).replace(",", "")), \
        re.findall(r'<tr data-state="(up|down)"', dom)


def scenario_browser(binary, workdir, screenshot):
    browser = chromium_binary()
    if not browser:
        skip("no chromium (Debian's chromium package)")
    head = Head(binary, workdir, iterations=30000)
    try:
        wait_for("two workers up", lambda: len(workers_up(head.cluster())) == 2, 20)

        def read_page():
            got = chromium(browser, workdir, "--dump-dom", head.url)
            return page_numbers(got.stdout) or None
        up, first, _ = wait_for("the page shows workers and tasks", lambda: (n := read_page())
                                and n[0] == 2 and n[1] > 0 and n, 40, interval=0.5)
        wait_for("tasks done rising on the page", lambda: (n := read_page()) and n[1] > first, 40,
                 interval=0.5)
        kill_a_worker_and_see_it_replaced(head)
        wait_for("the page shows the killed worker down and two up",
                 lambda: (n := read_page()) and n[0] == 2 and n[2].count("down") >= 1
                 and n[2].count("up") == 2, 40, interval=0.5)
        shot = chromium(browser, workdir, "--window-size=1400,1000", f"--screenshot={screenshot}",
                        head.url, budget_ms=8000)
        if not os.path.exists(screenshot) or os.path.getsize(screenshot) < 1000:
            fail(f"no screenshot: {shot.stderr}")
        print(f"screenshot: {screenshot}")
        head.finish()
    finally:
        head.kill()


def scenario_refuse(binary, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE_")}
    refused = subprocess.run([binary, "--workers", "1", "--dashboard", "0.0.0.0:0", "--out",
                              os.path.join(workdir, "m.png")], capture_output=True, text=True,
                             timeout=60, env=env)
    if refused.returncode != 1 or "refusing to serve the dashboard on 0.0.0.0" not in \
            refused.stderr or "wrote" in refused.stdout:
        fail(f"non-loopback without credentials: {refused.returncode} {refused.stderr!r}")
    env["TROUPE_SECRET"] = "a cluster secret for the dashboard test"
    served = subprocess.run([binary, "--workers", "1", "--dashboard", "0.0.0.0:0", "--out",
                             os.path.join(workdir, "m.png")], capture_output=True, text=True,
                            timeout=60, env=env)
    if served.returncode != 0 or "dashboard on http://0.0.0.0:" not in served.stderr:
        fail(f"non-loopback with a secret: {served.returncode} {served.stderr!r}")
    worker = subprocess.run([binary, "--join", "127.0.0.1:9", "--dashboard", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60, env=env)
    if worker.returncode != 2 or "--dashboard is served by the head" not in worker.stderr:
        fail(f"--dashboard on a worker node: {worker.returncode} {worker.stderr!r}")


def trickle(sock, stop):
    """Slowloris: a request header one byte a second, never finished, until `stop` is set."""
    try:
        sock.sendall(b"GET /api/cluster HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while not stop.wait(1.0):
            sock.sendall(b"x")
    except OSError:
        pass  # the head closed it: what it may do


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")


# A million header lines of 8 bytes: 8 MB a request. cpp-httplib 0.11 kept every line (four
# such requests grew a head of 20 MiB to 343 MiB); the dashboard reads 16 KiB of header, then
# answers 431 and closes.
MANY_LINES = b"GET /api/cluster HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-a: b\r\n" * 1_000_000 \
    + b"\r\n"
HEADER_ATTACKERS = 4
# What the attack may add to the head's RSS. The server's own bound is ~25 MiB (256 connections
# x (36 KiB of request + the largest answer), dashboard_server.cpp); the rest is room for the
# head's own growth while it renders (its tiles and results arrive meanwhile).
RSS_GROWTH_LIMIT = 64 << 20


def send_many_lines(host, port, sent):
    """One request of MANY_LINES; `sent` gets how many bytes went before the head hung up."""
    done = 0
    try:
        with socket.create_connection((host, port), timeout=30) as s:
            view = memoryview(MANY_LINES)
            while done < len(view):
                done += s.send(view[done:done + 65536])
    except OSError:
        pass  # the head refused the rest: what it should do
    sent.append(done)


def header_line_attack(head, host, port):
    """HEADER_ATTACKERS clients at once; fails if the head's RSS grew by RSS_GROWTH_LIMIT."""
    pid = head.proc.pid
    before = rss_bytes(pid)
    peak = before
    sent = []
    attackers = [threading.Thread(target=send_many_lines, args=(host, port, sent), daemon=True)
                 for _ in range(HEADER_ATTACKERS)]
    for t in attackers:
        t.start()
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in attackers) and time.monotonic() < deadline:
        peak = max(peak, rss_bytes(pid))
        time.sleep(0.02)
    for t in attackers:
        t.join(timeout=1)
    time.sleep(0.5)  # what the head still reads from its socket buffers
    peak = max(peak, rss_bytes(pid))
    print(f"header-line attack: RSS {before >> 20} MiB before, {peak >> 20} MiB at its peak; "
          f"bytes sent before the head hung up: {sorted(sent)}", flush=True)
    if any(t.is_alive() for t in attackers):
        fail("the header-line attackers did not end within 60 s")
    if peak - before > RSS_GROWTH_LIMIT:
        fail(f"the header-line attack grew the head's RSS by {(peak - before) >> 20} MiB "
             f"(from {before >> 20} MiB), over {RSS_GROWTH_LIMIT >> 20} MiB")


def answers_quickly(head, what, limit=2.0):
    """GET /api/cluster answers with the cluster within `limit` seconds. Not a speed check (it
    answers in milliseconds): the limit is below the server's 5 s idle timeout, so a request
    that waited for held connections to expire, rather than being served beside them, fails."""
    start = time.monotonic()
    try:
        c = json.loads(get(head.url + "api/cluster", timeout=limit))
    except (OSError, ValueError) as e:
        fail(f"GET /api/cluster {what}: {e!r} after {time.monotonic() - start:.2f} s")
    took = time.monotonic() - start
    if took > limit or "nodes" not in c:
        fail(f"GET /api/cluster {what}: {took:.2f} s, {c!r}")
    return took


def scenario_hostile(binary, workdir):
    # Long enough for the clients to connect while it renders.
    head = Head(binary, workdir, iterations=40000)
    held = []
    stop = threading.Event()
    tricklers = []
    try:
        host, port = head.address.split(":")
        wait_for("the dashboard answers", lambda: head.cluster(), 20)
        header_line_attack(head, host, int(port))
        # 1000 idle clients: connects that never say anything. The dashboard serves 256
        # connections at once and a new one closes the oldest, so connect without waiting.
        for _ in range(1000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            held.append(s)
        # Trickling clients, which once held every thread the dashboard had, to the end.
        for _ in range(8):
            s = socket.create_connection((host, int(port)), timeout=30)
            held.append(s)
            t = threading.Thread(target=trickle, args=(s, stop), daemon=True)
            t.start()
            tricklers.append(t)
        time.sleep(0.5)  # let the non-blocking connects complete
        took = [answers_quickly(head, "while 1000 idle and 8 trickling clients hold the port")
                for _ in range(5)]
        print("GET /api/cluster under idle and trickling clients: "
              + ", ".join(f"{t * 1000:.0f} ms" for t in took), flush=True)
        for i in range(20):  # garbage bytes, then hold the connection open
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            held.append(s)
        huge = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        huge.setblocking(False)
        huge.connect_ex((host, int(port)))
        held.append(huge)
        time.sleep(0.5)  # let the non-blocking connects complete
        for s in held[-21:]:
            try:
                s.send(os.urandom(512) if s is not huge else
                       b"GET /api/cluster HTTP/1.1\r\nHost: " + b"x" * 100000 + b"\r\n\r\n")
            except OSError:
                pass  # the head closed it already: what it may do
        answers_quickly(head, "after garbage and a huge header")
        head.finish(timeout=120)
    finally:
        stop.set()
        for s in held:
            s.close()
        head.kill()


def serve_badly(mode, ready):
    """One connection of a server that is not a troupe head; `ready` gets its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    ready.append(srv.getsockname()[1])
    try:
        conn, _ = srv.accept()
        conn.settimeout(30)
        conn.recv(4096)
        if mode == "silent":
            time.sleep(15)
        elif mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            for _ in range(15):
                conn.sendall(b"x")
                time.sleep(1)
        elif mode == "huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
            for _ in range(100):
                conn.sendall(b"y" * 1000000)
        elif mode == "html":
            body = b"<html>hello</html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(1)
        conn.close()
    except OSError:
        pass  # the command hung up first: what it should do with these
    finally:
        srv.close()


def scenario_status(binary, workdir):
    expected = {"silent": "no answer", "trickle": "did not answer /api/cluster within 10 s",
                "huge": "over 16 MiB", "html": "is not a troupe dashboard"}
    for mode, words in expected.items():
        ready = []
        server = threading.Thread(target=serve_badly, args=(mode, ready), daemon=True)
        server.start()
        wait_for("the bad server listens", lambda: ready, 10)
        start = time.monotonic()
        done = subprocess.run([binary, "--status", f"127.0.0.1:{ready[0]}"], capture_output=True,
                              text=True, timeout=60)
        took = time.monotonic() - start
        if done.returncode != 1 or words not in done.stderr or took > 15:
            fail(f"--status against a {mode} server: status {done.returncode} after {took:.1f} s,"
                 f" stderr {done.stderr!r} (expected 1 and {words!r})")
        server.join(timeout=30)
    # An IPv6 address is named as it must be given, in brackets: the hint "--dashboard ::1:P"
    # would be a usage error.
    done = subprocess.run([binary, "--status", "[::1]:1"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 1 or "--dashboard [::1]:1" not in done.stderr:
        fail(f"--status [::1]:1: status {done.returncode}, stderr {done.stderr!r} (expected 1 "
             "and the address in brackets)")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    scenario, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix=f"troupe-dashboard-{scenario}-") as workdir:
        if scenario == "api":
            scenario_api(binary, workdir)
        elif scenario == "prometheus":
            scenario_prometheus(binary, workdir)
        elif scenario == "browser":
            scenario_browser(binary, workdir, sys.argv[3])
        elif scenario == "refuse":
            scenario_refuse(binary, workdir)
        elif scenario == "hostile":
            scenario_hostile(binary, workdir)
        elif scenario == "status":
            scenario_status(binary, workdir)
        else:
            fail(f"unknown scenario {scenario}")
    print(f"PASS: {scenario}")


if __name__ == "__main__":
    main()
