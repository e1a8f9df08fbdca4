#!/usr/bin/env python3
"""troupe across hosts, for real (issue 15): 4 "hosts" as network namespaces on a private switch
(deploy/netns-cluster.sh), the mandelbrot head on host 0 listening on its own address with a
cluster secret (a 0600 file, never on the command line), 2 worker nodes on each of hosts 1-3
joining it over TCP. Scenarios, one cluster for all:

  render          the PNG is byte-identical to an in-process render (--workers 0) of the same
                  size; no node is declared down
  partition       host 3's cable is pulled (its switch port set down: every packet to or from it
                  is dropped silently) once a tenth of the tiles are done: its two nodes are
                  declared down within the heartbeat timeout (plus one heartbeat tick, and a
                  margin for a loaded machine), no other node is, their tiles are re-dispatched
                  and the PNG is still identical; the cut-off nodes exit with status 1 once
                  --join-timeout runs out, the others with 0 when the head finishes
  head-partition  host 0's own interface is set down mid-render (so it loses its route too):
                  every worker node exits with status 1 and "could not join" after the
                  heartbeat timeout and --join-timeout; the head, which then waits for workers
                  with nobody left to come (it says so), is ended by the test; nothing is left
                  running in any host

  netns_test.py [all|render|partition|head-partition] MANDELBROT

Every wait is bounded (the whole run too: it ends itself before CTest would kill it); every
process started is killed by its pid at the end; the cluster is removed on every exit path
(SIGTERM included), and a cluster left by an earlier run that was SIGKILLed is removed at the
start. Exits 77 (ctest SKIP_RETURN_CODE) with the reason when the machine cannot: not root, no
`ip`, network namespaces not permitted."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from harness import fail, note, reference_render, run_bounded, skip, wait_for  # noqa: E402
CLUSTER = os.path.join(HERE, "..", "..", "deploy", "netns-cluster.sh")

# 480x300 at 20000 iterations: a few seconds on 6 nodes here, long enough to cut a host while
# every node still holds tiles.
IMAGE = ["--width", "480", "--height", "300", "--iterations", "20000"]
WORKER_HOSTS = (1, 2, 3)
NODES_PER_HOST = 2
HEARTBEAT_INTERVAL_MS = 500
HEARTBEAT_TIMEOUT_MS = 3000
JOIN_TIMEOUT_S = 5
# A heartbeat is checked once per interval: a silent peer is declared down between the timeout
# and the timeout plus one interval after it was last heard. The margin is for a machine whose
# cores are shared with other builds.
DOWN_BOUND_S = (HEARTBEAT_TIMEOUT_MS + HEARTBEAT_INTERVAL_MS) / 1000 + 1.5
# The whole run, kept below CTest's TIMEOUT (tests/netns/CMakeLists.txt) so that the cleanup
# runs instead of being SIGKILLed with the test.
RUN_BOUND_S = 200

PREFIX = f"tt{os.getpid()}"
STALE = re.compile(r"^tt(\d+)-sw$")


def cluster(*args, check=True, timeout=60):
    """deploy/netns-cluster.sh with this run's prefix."""
    res = subprocess.run([CLUSTER, *args[:1], "--prefix", PREFIX, *args[1:]],
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        fail(f"netns-cluster.sh {' '.join(args)}: status {res.returncode}: {res.stderr.strip()}")
    return res


def namespaces():
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def pids_in_cluster():
    found = {}
    for ns in namespaces():
        if ns.startswith(PREFIX + "-"):
            res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                 timeout=30)
            if res.stdout.split():
                found[ns] = res.stdout.split()
    return found


def remove_stale_clusters():
    """Clusters of earlier runs whose process is gone (a SIGKILLed test cannot clean up)."""
    for ns in namespaces():
        m = STALE.match(ns)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            stale = "tt" + m.group(1)
            note(f"removing cluster {stale}, left by an earlier run (pid {m.group(1)} is gone)")
            subprocess.run([CLUSTER, "down", "--prefix", stale], timeout=60)


class Node:
    """A mandelbrot process on one host of the cluster. `netns-cluster.sh exec` replaces itself
    with `ip netns exec`, which replaces itself with the program: the pid is the node's."""
    started = []

    def __init__(self, host, name, args, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [CLUSTER, "exec", "--prefix", PREFIX, str(host), *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)
        Node.started.append(self)

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout, what):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail(f"{what}: {self.name} still runs after {timeout} s; its output:\n"
                 + self.output())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"WARNING: {self.name} (pid {self.proc.pid}) did not die within 10 s")

    @classmethod
    def kill_all(cls):
        for node in cls.started:
            node.kill()
        cls.started = []


class Render:
    """One head on host 0 and NODES_PER_HOST worker nodes on each worker host."""

    def __init__(self, binary, workdir, secret, head_address, port, tag):
        self.out = os.path.join(workdir, tag + ".png")
        common = ["--secret-file", secret, "--heartbeat-interval-ms", str(HEARTBEAT_INTERVAL_MS),
                  "--heartbeat-timeout-ms", str(HEARTBEAT_TIMEOUT_MS), "--log-level", "info"]
        needed = len(WORKER_HOSTS) * NODES_PER_HOST
        self.head = Node(0, tag + "-head",
                         [binary, "--workers", "0", "--listen", f"{head_address}:{port}",
                          "--min-workers", str(needed), "--wait-workers", "30", "--out", self.out,
                          *IMAGE, *common], workdir)
        wait_for("the head listens", lambda: "for worker nodes" in self.head.output()
                 or self.head.proc.poll() is not None, 20)
        if self.head.proc.poll() is not None:
            fail("the head exited before it listened:\n" + self.head.output())
        self.workers = {}
        for host in WORKER_HOSTS:
            for i in range(NODES_PER_HOST):
                name = f"h{host}-w{i}"
                self.workers[name] = (host, Node(
                    host, f"{tag}-{name}",
                    [binary, "--join", f"{head_address}:{port}", "--name", name,
                     "--join-timeout", str(JOIN_TIMEOUT_S), *common], workdir))
        self.started = time.monotonic()
        wait_for(f"{needed} workers joined and the render started",
                 lambda: "rendering on" in self.head.output() or self.head.proc.poll() is not None,
                 40)
        if self.head.proc.poll() is not None:
            fail("the head exited before rendering:\n" + self.head.output())

    def tiles_done_fraction(self):
        fractions = re.findall(r"progress: (\d+)/(\d+) tiles", self.head.output())
        return int(fractions[-1][0]) / int(fractions[-1][1]) if fractions else 0.0

    def declared_down(self):
        """Names of nodes the head dropped, with how long each was silent (ms)."""
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r"pool: lost worker (\S+) \(.*?silent for (\d+) ms", self.head.output())}

    def finish(self, timeout=90):
        status = self.head.wait(timeout, "the render")
        if status != 0 or "wrote " not in self.head.output():
            fail(f"the head exited with {status} without writing its image:\n"
                 + self.head.output())
        return time.monotonic() - self.started

    def check_png(self, reference):
        with open(self.out, "rb") as a, open(reference, "rb") as b:
            if a.read() != b.read():
                fail(f"{self.out} differs from the in-process render {reference}")

    def cut_when_a_tenth_is_done(self, host, *how):
        """Sets HOST's link down (netns-cluster.sh link HOST down HOW...) once a tenth of the
        tiles are done; returns when it did."""
        wait_for("a tenth of the tiles done", lambda: self.tiles_done_fraction() >= 0.1
                 or self.head.proc.poll() is not None, 60)
        if self.head.proc.poll() is not None:
            fail("the render ended before the cut:\n" + self.head.output())
        cluster("link", str(host), "down", *how)
        cut = time.monotonic()
        note(f"host {host}'s link down{' (' + ' '.join(how) + ')' if how else ''} at "
             f"{cut - self.started:.1f} s into the render ({self.tiles_done_fraction():.0%} of "
             "the tiles done)")
        return cut


def scenario_render(binary, workdir, secret, head_address, reference):
    r = Render(binary, workdir, secret, head_address, 7001, "render")
    took = r.finish()
    r.check_png(reference)
    if r.declared_down():
        fail(f"nodes declared down in a render without faults: {r.declared_down()}\n"
             + r.head.output())
    for name, (_, node) in r.workers.items():
        status = node.wait(10, "a worker after its head finished")
        if status != 0:
            fail(f"{name} exited with {status} after its head finished:\n" + node.output())
    tiles = re.search(r"tiles per worker:(.*)", r.head.output()).group(1).strip()
    note(f"render across 3 hosts x {NODES_PER_HOST} nodes: {took:.1f} s, PNG identical; {tiles}")


def scenario_partition(binary, workdir, secret, head_address, reference):
    victim = WORKER_HOSTS[-1]
    r = Render(binary, workdir, secret, head_address, 7002, "partition")
    cut = r.cut_when_a_tenth_is_done(victim)
    cut_off = {name for name, (host, _) in r.workers.items() if host == victim}
    seen = {}

    def all_cut_off_nodes_down():
        now = time.monotonic()
        for name in r.declared_down():
            seen.setdefault(name, now - cut)
        return cut_off <= seen.keys() or r.head.proc.poll() is not None

    wait_for(f"host {victim}'s nodes declared down", all_cut_off_nodes_down, DOWN_BOUND_S + 5)
    down = r.declared_down()
    if not cut_off <= down.keys():
        fail(f"the head finished without declaring {sorted(cut_off - down.keys())} down:\n"
             + r.head.output())
    late = {n: s for n, s in seen.items() if n in cut_off and s > DOWN_BOUND_S}
    if late:
        fail(f"declared down later than {DOWN_BOUND_S} s after the cut: {late}")
    took = r.finish()
    down = r.declared_down()
    if down.keys() != cut_off:
        fail(f"declared down: {sorted(down)}; only {sorted(cut_off)} were cut off:\n"
             + r.head.output())
    early = {n: ms for n, ms in down.items() if ms < HEARTBEAT_TIMEOUT_MS}
    if early:
        fail(f"declared down before the heartbeat timeout ({HEARTBEAT_TIMEOUT_MS} ms): {early}")
    r.check_png(reference)
    lost = re.search(r"workers lost: (\d+), tiles re-dispatched: (\d+)", r.head.output())
    if not lost or int(lost.group(1)) != len(cut_off) or int(lost.group(2)) == 0:
        fail("the head does not report the cut-off nodes lost and their tiles re-dispatched:\n"
             + r.head.output())
    note("declared down " + ", ".join(
        f"{n} {seen[n]:.2f} s after the cut (silent {down[n]} ms)" for n in sorted(cut_off))
        + f"; {lost.group(2)} tiles re-dispatched; render {took:.1f} s, PNG identical")
    # The others leave with their head; the cut-off ones find no head for --join-timeout.
    for name, (host, node) in sorted(r.workers.items()):
        expected = 1 if host == victim else 0
        status = node.wait(HEARTBEAT_TIMEOUT_MS / 1000 + JOIN_TIMEOUT_S + 10,
                           "a worker after the render")
        if status != expected:
            fail(f"{name} exited with {status}, expected {expected}:\n" + node.output())
    cluster("link", str(victim), "up")


def scenario_head_partition(binary, workdir, secret, head_address):
    r = Render(binary, workdir, secret, head_address, 7003, "head-partition")
    # Its own interface this time: the head's host also loses its route.
    cut = r.cut_when_a_tenth_is_done(0, "--host-side")
    bound = DOWN_BOUND_S + JOIN_TIMEOUT_S + 3
    exits = {}

    def all_exited():
        for name, (_, node) in r.workers.items():
            if name not in exits and node.proc.poll() is not None:
                exits[name] = time.monotonic() - cut
        return len(exits) == len(r.workers)

    wait_for(f"every worker cut off from its head exits (bound {bound:.1f} s after the cut)",
             all_exited, bound)
    for name, (_, node) in sorted(r.workers.items()):
        status = node.proc.returncode
        if status != 1:
            fail(f"{name} exited with {status}, expected 1 (it never finished its work):\n"
                 + node.output())
        if "could not join" not in node.output():
            fail(f"{name} exited with {status} without saying it could not reach its head:\n"
                 + node.output())
    message = re.search(r"^error: .*", r.workers["h1-w0"][1].output(), re.M).group(0)
    note(f"all {len(exits)} workers exited with status 1, {min(exits.values()):.1f}-"
         f"{max(exits.values()):.1f} s after the cut: {message}")
    # The head lost every node and waits for new ones, saying so; it has no bound of its own.
    wait_for("the head declares every node down and says it waits for workers",
             lambda: len(r.declared_down()) == len(r.workers)
             and "waiting for workers" in r.head.output(), 10)
    if r.head.proc.poll() is not None:
        fail(f"the head exited with {r.head.proc.returncode}:\n" + r.head.output())
    r.head.proc.terminate()
    status = r.head.wait(10, "the head after SIGTERM")
    note(f"the head, waiting for workers, ended by SIGTERM (status {status})")
    cluster("link", "0", "up", "--host-side")
    left = pids_in_cluster()
    if left:
        fail(f"processes left in the cluster: {left}")


def run(scenario, binary, workdir):
    if os.geteuid() != 0:
        skip("network namespaces need root")
    if shutil.which("ip") is None:
        skip("ip is not installed (Debian package iproute2; deploy/dev.sh deps installs it)")
    remove_stale_clusters()
    start = time.monotonic()
    global cluster_made
    cluster_made = True
    res = cluster("up", str(1 + len(WORKER_HOSTS)), check=False)
    if res.returncode != 0:
        if re.search(r"Operation not permitted|Permission denied|Read-only", res.stderr):
            skip("this machine does not permit network namespaces: " + res.stderr.strip())
        fail(f"netns-cluster.sh up: status {res.returncode}: {res.stderr.strip()}")
    head_address = cluster("addr", "0").stdout.strip()
    note(f"cluster {PREFIX}: {1 + len(WORKER_HOSTS)} hosts in {time.monotonic() - start:.2f} s, "
         f"head on {head_address}")

    secret = os.path.join(workdir, "secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32).hex().encode())
    os.close(fd)

    reference = None
    if scenario != "head-partition":
        reference = reference_render(binary, os.path.join(workdir, "in-process.png"), IMAGE,
                                     workdir)
    for name, body in (("render", lambda: scenario_render(
                           binary, workdir, secret, head_address, reference)),
                       ("partition", lambda: scenario_partition(
                           binary, workdir, secret, head_address, reference)),
                       ("head-partition", lambda: scenario_head_partition(
                           binary, workdir, secret, head_address))):
        if scenario in ("all", name):
            t = time.monotonic()
            print(f"=== {name}", flush=True)
            body()
            Node.kill_all()
            note(f"({time.monotonic() - t:.1f} s)")


cluster_made = False


def cleanup():
    Node.kill_all()
    if not cluster_made:
        return True
    res = subprocess.run([CLUSTER, "down", "--prefix", PREFIX], capture_output=True, text=True,
                         timeout=60)
    left = [ns for ns in namespaces() if ns.startswith(PREFIX + "-")]
    if res.returncode != 0 or left:
        print(f"FAIL: the cluster was not removed ({res.stderr.strip()}; left: {left})")
        return False
    return True


def main():
    args = sys.argv[1:]
    if len(args) != 2 or args[0] not in ("all", "render", "partition", "head-partition"):
        print(__doc__)
        sys.exit(2)
    scenario, binary = args[0], os.path.abspath(args[1])
    workdir = tempfile.mkdtemp(prefix="troupe-netns.")
    start = time.monotonic()
    if run_bounded(RUN_BOUND_S, lambda: run(scenario, binary, workdir), cleanup):
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"PASS ({time.monotonic() - start:.1f} s)", flush=True)
        sys.exit(0)
    print(f"the nodes' output is in {workdir}", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
