#!/usr/bin/env python3
"""hosts_scale.py: 64 small worker nodes on 8 hosts joining one head (issue 15, "Scale").

The hosts are network namespaces on a private switch (deploy/netns-cluster.sh): the head
(bench/hosts_bench, commands on its stdin) listens on host 0's address with a cluster secret
(a 0600 file), worker nodes (the same binary with --join) start on hosts 1-8, placed round robin,
so that 8 nodes are one per host and 64 are 8 per host. Default heartbeats (500 ms, 3 s).
Each run measures, in three phases with a fresh head each:

  join   64 nodes started at once, from the first node's start to the head's pool having all 64
         ready (hosts_join_64_s); then 64 nodes started first, trying to reach a head that is not
         there yet, from the head's start to all 64 ready (hosts_join_64_head_start_s)
  idle   the head's CPU (ms/s, /proc/PID/task/*/schedstat: the scheduler's nanoseconds, not 10 ms
         ticks; the sum over threads, as /proc/PID/schedstat is the main thread's alone) and PSS
         (/proc/PID/smaps_rollup) with 0, 8, 16, 32, 64 idle nodes joined, and the least-squares
         slopes: what one idle node costs the head (hosts_idle_cpu_per_node, _pss_per_node);
         a node's own threads, PSS and idle CPU. The memory slope is Pss_Anon's, the head's own
         memory: its file pages (libtroupe, CAF) are shared with the nodes, which run the same
         binary on this machine, so Pss falls as nodes start (the pages' charge is split among
         more processes), which separate hosts would not do
  sweep  with 1, 2, 4, 8, 16, 32, 64 nodes: dispatch throughput (pool.map of tiny tasks,
         hosts_map_tiny_nK), the demo's render (hosts_render_nK; every image's hash must equal an
         in-process render's) and the head's CPU during it (hosts_render_head_cpu_nK, ms/s; per
         busy node: divided by K)

Output: one JSON line per figure on stdout (bench/run.py's format); progress on stderr.
Needs root and `ip netns`: exits 77 (skipped) saying why otherwise. Every node started is killed
by its pid at the end; the cluster is removed on every exit path (and a cluster of an earlier run
that was SIGKILLed is removed at the start). The run bounds itself below run.py's timeout.

  hosts_scale.py [--quick] [--only METRIC] [--build-dir DIR]
"""
import argparse
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy"))
from netns_cluster import ClusterError, NetnsCluster  # noqa: E402
from procfs import ProcError, cpu_ns, field_kib  # noqa: E402 (bench/procfs.py)

SKIP = 77

WORKER_HOSTS = 8
NODES_PER_HOST = 8
NODES = WORKER_HOSTS * NODES_PER_HOST
IDLE_COUNTS = (0, 8, 16, 32, 64)
SWEEP_COUNTS = (1, 2, 4, 8, 16, 32, 64)
PORT = 7100
# Below run.py's timeouts for this program (300 s quick, 600 s full): the cleanup runs instead of
# being SIGKILLed with the program.
RUN_BOUND_S = {True: 270, False: 570}
JOIN_BOUND_S = 60  # one wait for nodes to be ready; also the nodes' --join-timeout

CLUSTER = NetnsCluster("hs")


def metric_names():
    names = ["hosts_join_64_s", "hosts_join_64_head_start_s", "hosts_idle_cpu_per_node",
             "hosts_idle_pss_per_node", "hosts_node_pss", "hosts_node_threads",
             "hosts_node_idle_cpu"]
    names += [f"hosts_idle_cpu_n{n}" for n in IDLE_COUNTS]
    names += [f"hosts_idle_pss_n{n}" for n in IDLE_COUNTS]
    names += [f"hosts_idle_pss_anon_n{n}" for n in IDLE_COUNTS]
    for prefix in ("hosts_map_tiny_n", "hosts_render_n", "hosts_render_head_cpu_n"):
        names += [f"{prefix}{n}" for n in SWEEP_COUNTS]
    return names


PHASE_OF = {"join": ("hosts_join_",), "idle": ("hosts_idle_", "hosts_node_"),
            "sweep": ("hosts_map_", "hosts_render_")}


class Failure(Exception):
    pass


def note(message):
    print("hosts_scale: " + message, file=sys.stderr, flush=True)


def skip(message):
    note("SKIP: " + message)
    sys.exit(SKIP)


def slope(points):
    """Least-squares slope of y over x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else \
        (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


# ---- processes --------------------------------------------------------------------------------

class Processes:
    """Every process this run started on a host, killed by pid at the end."""
    started = []

    @classmethod
    def start(cls, host, argv, log_path, **kwargs):
        with open(log_path, "a") as log:
            proc = subprocess.Popen(CLUSTER.exec_argv(host, *argv),
                                    stdout=kwargs.pop("stdout", log), stderr=log, **kwargs)
        cls.started.append(proc)
        return proc

    @classmethod
    def kill_all(cls):
        for proc in cls.started:
            if proc.poll() is None:
                proc.kill()
        for proc in cls.started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                note(f"WARNING: pid {proc.pid} did not die within 10 s")
        cls.started = []


class Head:
    """hosts_bench as the head on host 0. `netns-cluster.sh exec` replaces itself with
    `ip netns exec`, which replaces itself with the program: the pid is the head's."""

    def __init__(self, run, tag):
        self.run = run
        self.started_at = time.monotonic()
        self.proc = Processes.start(
            0, [run.binary, "--workers", "0", "--listen", f"{run.address}:{PORT}",
                "--secret-file", run.secret, "--log-level", "warn"],
            os.path.join(run.workdir, tag + "-head.log"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.log = os.path.join(run.workdir, tag + "-head.log")
        listening = self.read(20, "the head listens")
        if listening.get("listening") != PORT:
            raise Failure(f"the head did not listen on {PORT}: {listening}")

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-3000:]

    def read(self, timeout, what):
        if not self.selector.select(timeout):
            raise Failure(f"{what}: no answer from the head within {timeout} s:\n"
                          + self.output())
        line = self.proc.stdout.readline()
        if not line:
            raise Failure(f"{what}: the head exited ({self.proc.wait()}):\n" + self.output())
        answer = json.loads(line)
        if "error" in answer:
            raise Failure(f"{what}: the head says: {answer['error']}")
        return answer

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def ask(self, command, timeout):
        self.send(command)
        return self.read(timeout, command)

    def wait_ready(self, n):
        answer = self.read(JOIN_BOUND_S + 10, f"wait for {n} workers")
        if not answer["ok"]:
            raise Failure(f"only {answer['ready']} of {n} workers ready after {JOIN_BOUND_S} s")
        return answer["at"]

    def quit(self):
        self.send("quit")
        try:
            status = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Failure("the head did not quit within 20 s")
        if status != 0:
            raise Failure(f"the head exited with {status}:\n" + self.output())


class Run:
    def __init__(self, binary, workdir, quick):
        self.binary = binary
        self.workdir = workdir
        self.quick = quick
        self.address = CLUSTER.addr(0)
        self.secret = os.path.join(workdir, "secret")
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32).hex().encode())
        os.close(fd)
        self.nodes = []
        self.window_s = 2.0 if quick else 4.0
        self.settle_s = 1.0 if quick else 2.0
        self.map_tasks = 1_000_000 if quick else 3_000_000
        self.image = "640 400 2000" if quick else "1280 800 2000"

    def start_nodes(self, count, tag):
        """Starts `count` more worker nodes, round robin over the worker hosts."""
        first = len(self.nodes)
        for j in range(first, first + count):
            host = 1 + j % WORKER_HOSTS
            name = f"h{host}-w{j // WORKER_HOSTS}"
            self.nodes.append(Processes.start(
                host, [self.binary, "--join", f"{self.address}:{PORT}", "--name", name,
                       "--secret-file", self.secret, "--join-timeout", str(JOIN_BOUND_S),
                       "--log-level", "warn"],
                os.path.join(self.workdir, f"{tag}-{name}.log"), stdin=subprocess.DEVNULL))

    def end_nodes(self, clean):
        """The head quit (clean: the nodes leave with status 0) or failed: no node survives."""
        for proc in self.nodes:
            try:
                status = proc.wait(timeout=15 if clean else 0.1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                status = "killed"
            if clean and status != 0:
                raise Failure(f"a worker node exited with {status} after its head quit")
        self.nodes = []


# ---- the phases -------------------------------------------------------------------------------

def phase_join(run, emit):
    head = Head(run, "join")
    head.send(f"wait {NODES} {JOIN_BOUND_S}")
    first_start = time.monotonic()
    run.start_nodes(NODES, "join")
    launched = time.monotonic() - first_start
    at = head.wait_ready(NODES)
    emit("hosts_join_64_s", at - first_start, "s")
    note(f"join: {NODES} nodes started at once ready {at - first_start:.2f} s after the first "
         f"start (launching took {launched:.2f} s)")
    head.quit()
    run.end_nodes(clean=True)

    run.start_nodes(NODES, "prejoin")
    # Long enough for every node to be up and retrying at its backoff's cap (1 s).
    time.sleep(3.0)
    dead = [p.pid for p in run.nodes if p.poll() is not None]
    if dead:
        raise Failure(f"nodes waiting for their head exited: {dead}")
    head = Head(run, "late-head")
    head.send(f"wait {NODES} {JOIN_BOUND_S}")
    at = head.wait_ready(NODES)
    emit("hosts_join_64_head_start_s", at - head.started_at, "s")
    note(f"join: a head started with {NODES} nodes already trying had them all ready "
         f"{at - head.started_at:.2f} s after its start")
    head.quit()
    run.end_nodes(clean=True)


def idle_window(run, pids):
    before = [cpu_ns(pid) for pid in pids]
    start = time.monotonic()
    time.sleep(run.window_s)
    elapsed = time.monotonic() - start
    return [(cpu_ns(pid) - b) / 1e6 / elapsed for pid, b in zip(pids, before)]


def phase_idle(run, emit):
    head = Head(run, "idle")
    pid = head.proc.pid
    cpu, pss = [], []
    for n in IDLE_COUNTS:
        if n > len(run.nodes):
            run.start_nodes(n - len(run.nodes), "idle")
            head.ask(f"wait {n} {JOIN_BOUND_S}", JOIN_BOUND_S + 10)
        time.sleep(run.settle_s)
        ms_per_s = idle_window(run, [pid])[0]
        kib = field_kib(pid, "smaps_rollup", "Pss")
        anon = field_kib(pid, "smaps_rollup", "Pss_Anon")
        cpu.append((n, ms_per_s))
        pss.append((n, anon))
        emit(f"hosts_idle_cpu_n{n}", ms_per_s, "ms/s")
        emit(f"hosts_idle_pss_n{n}", kib / 1024, "MiB")
        emit(f"hosts_idle_pss_anon_n{n}", anon / 1024, "MiB")
        note(f"idle: {n} nodes: head {ms_per_s:.3f} ms/s, PSS {kib / 1024:.2f} MiB "
             f"(Pss_Anon {anon / 1024:.2f})")
    emit("hosts_idle_cpu_per_node", slope(cpu), "ms/s")
    emit("hosts_idle_pss_per_node", slope(pss), "KiB")
    note(f"idle: per node (slope) {slope(cpu):.4f} ms/s, {slope(pss):.1f} KiB")
    nodes = [p.pid for p in run.nodes]
    node_cpu = idle_window(run, nodes)
    threads = [field_kib(p, "status", "Threads") for p in nodes]
    node_pss = [field_kib(p, "smaps_rollup", "Pss") for p in nodes]
    emit("hosts_node_threads", median(threads), "threads")
    emit("hosts_node_pss", median(node_pss) / 1024, "MiB")
    emit("hosts_node_idle_cpu", median(node_cpu), "ms/s")
    note(f"idle: a node (median of {len(nodes)}): {median(threads):.0f} threads, PSS "
         f"{median(node_pss) / 1024:.2f} MiB, {median(node_cpu):.3f} ms/s")
    head.quit()
    run.end_nodes(clean=True)


def phase_sweep(run, emit):
    head = Head(run, "sweep")
    pid = head.proc.pid
    reference = head.ask(f"local {run.image}", 120)["hash"]
    for n in SWEEP_COUNTS:
        run.start_nodes(n - len(run.nodes), "sweep")
        head.ask(f"wait {n} {JOIN_BOUND_S}", JOIN_BOUND_S + 10)
        rate = head.ask(f"map {run.map_tasks}", 120)["tasks_per_s"]
        before, start = cpu_ns(pid), time.monotonic()
        rendered = head.ask(f"render {run.image}", 120)
        head_ms_per_s = (cpu_ns(pid) - before) / 1e6 / (time.monotonic() - start)
        if rendered["hash"] != reference:
            raise Failure(f"the render on {n} nodes differs from the in-process one")
        emit(f"hosts_map_tiny_n{n}", rate, "tasks/s")
        emit(f"hosts_render_n{n}", rendered["seconds"], "s")
        emit(f"hosts_render_head_cpu_n{n}", head_ms_per_s, "ms/s")
        note(f"sweep: {n} nodes: map {rate / 1e6:.2f}M tasks/s, render {rendered['seconds']:.2f} s "
             f"(image identical), head {head_ms_per_s:.0f} ms/s during it "
             f"({head_ms_per_s / n:.1f} per node)")
    head.quit()
    run.end_nodes(clean=True)


def measure(binary, workdir, quick, only, emit):
    if os.geteuid() != 0:
        skip("network namespaces need root")
    if shutil.which("ip") is None:
        skip("ip is not installed (Debian package iproute2)")
    if not os.path.exists(binary):
        raise Failure(f"{binary} is missing (cmake --build BUILD --target hosts_bench)")
    for stale in CLUSTER.remove_stale():
        note(f"removed cluster {stale}, left by an earlier run that is gone")
    try:
        CLUSTER.up(1 + WORKER_HOSTS)
    except ClusterError as e:
        if re.search(r"Operation not permitted|Permission denied|Read-only", e.stderr):
            skip("this machine does not permit network namespaces: " + e.stderr.strip())
        raise Failure(str(e))
    run = Run(binary, workdir, quick)
    note(f"cluster {CLUSTER.prefix}: head on {run.address}, {NODES} nodes on {WORKER_HOSTS} hosts; "
         f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        for name, body in (("join", phase_join), ("idle", phase_idle), ("sweep", phase_sweep)):
            if only and not only.startswith(PHASE_OF[name]):
                continue
            started = time.monotonic()
            body(run, emit)
            note(f"{name}: {time.monotonic() - started:.1f} s")
    finally:
        run.end_nodes(clean=False)


def cleanup():
    Processes.kill_all()
    if CLUSTER.down():
        return True
    note(f"FAILED to remove the cluster {CLUSTER.prefix} ({CLUSTER.failure})")
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=metric_names())
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()
    binary = os.path.abspath(os.path.join(args.build_dir, "bench", "hosts_bench"))

    def emit(metric, value, unit):
        if not args.only or args.only == metric:
            print(json.dumps({"metric": metric, "impl": "troupe", "value": value, "unit": unit}),
                  flush=True)

    def on_signal(signum, _frame):
        raise Failure(f"{signal.Signals(signum).name} (the run took longer than "
                      f"{RUN_BOUND_S[args.quick]} s, or it was stopped)")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(RUN_BOUND_S[args.quick])
    workdir = tempfile.mkdtemp(prefix="troupe-hosts.")
    ok = False
    try:
        measure(binary, workdir, args.quick, args.only, emit)
        ok = True
    except (Failure, ProcError) as e:
        note("FAILED: " + str(e))
    finally:
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        removed = cleanup()
    if ok and removed:
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    note(f"the nodes' output is in {workdir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
