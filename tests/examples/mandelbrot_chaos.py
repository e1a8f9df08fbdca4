#!/usr/bin/env python3
"""Chaos for the mandelbrot demo, with real processes and real signals.

  tcp-workers    a --listen head renders with --workers 0 on 3 worker nodes that --join it; for
                 --seconds, one of them is SIGKILLed every --interval-ms and restarted, as a
                 supervisor (systemd, Kubernetes) would
  child-workers  a head renders on --workers 2 worker processes; for --seconds, one of its
                 children is SIGKILLed every --interval-ms (the pool replaces them)
  head-killed    a head rendering on 2 child workers and 2 TCP workers is killed by SIGKILL,
                 SIGTERM and SIGINT in turn (one render each)

In the first two, renders run back to back until the chaos ends. Each render must end with the
PNG of an in-process render, byte for byte, or fail with a clear error (exit status 1..127 and
an "error: " line), never hang or crash; the render running when the chaos ends must finish
within 10 s of it. In every scenario no process of the run is left 10 s after its head ended.

Every process started here carries a marker in its environment (inherited by the pool's child
workers), so the run finds its own processes, and kills only those, at the end.

Usage: mandelbrot_chaos.py --bin PATH/TO/mandelbrot SCENARIO [--seconds 20] [--interval-ms 200]
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

VIEW = ["--width", "640", "--height", "400", "--iterations", "5000", "--rows-per-tile", "1"]
# Long enough that a signal lands mid-render on a loaded machine.
BIG_VIEW = ["--width", "1280", "--height", "800", "--iterations", "20000", "--rows-per-tile", "1"]
RENDER_LIMIT_S = 120  # a render that takes longer is a hang
AFTER_CHAOS_S = 10  # the head ends within this after the chaos; no process is left after that
JOIN_TIMEOUT_S = 3  # TCP workers give up on a lost head after this


class Failure(Exception):
    pass


class Run:
    """The processes of one scenario: a marker in their environment, a directory for logs."""

    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="mandelbrot_chaos_")
        self.marker = f"MANDELBROT_CHAOS_RUN={uuid.uuid4()}"
        home = os.path.join(self.dir, "home")
        os.mkdir(home, 0o700)
        self.env = dict(os.environ)
        # A home of its own: the per-user loopback cookie the head makes stays in this run.
        self.env["HOME"] = home
        self.env.pop("XDG_RUNTIME_DIR", None)
        name, _, value = self.marker.partition("=")
        self.env[name] = value
        self.logs = 0

    def start(self, args, log_name):
        self.logs += 1
        path = os.path.join(self.dir, f"{self.logs:04d}-{log_name}.log")
        with open(path, "wb") as log:
            proc = subprocess.Popen([self.binary, *args], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env, cwd=self.dir)
        proc.log_path = path
        return proc

    def processes(self):
        """Pids of running (not zombie) processes that carry this run's marker."""
        found = []
        needle = self.marker.encode() + b"\0"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle not in f.read():
                        continue
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(int(entry))
        return found

    def describe(self, pids):
        lines = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
                lines.append(f"  {pid} {command}")
            except OSError:
                pass
        return "\n".join(lines)

    def kill_all(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def wait_for_line(proc, pattern, timeout_s):
    """The first match of `pattern` in proc's log, or None once it exited or timed out."""
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        found = re.search(pattern, read(proc.log_path), re.MULTILINE)
        if found:
            return found
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def stacks(pid):
    """Every thread's stack of a hung process, for the failure message (if gdb is installed)."""
    if not shutil.which("gdb"):
        return "(no gdb for the stacks)"
    try:
        done = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "(gdb timed out)"
    return "\n".join(line for line in done.stdout.splitlines() if line.startswith(("#", "Thread")))


def children_of(pid):
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def reference_png(run, view):
    path = os.path.join(run.dir, "reference.png")
    proc = run.start([*view, "--workers", "0", "--out", path], "reference")
    if proc.wait(RENDER_LIMIT_S) != 0:
        raise Failure(f"the in-process render failed: {read(proc.log_path)}")
    with open(path, "rb") as f:
        return f.read()


def judge(head, png_path, reference):
    """'identical' or the head's error line; raises Failure for anything else."""
    log = read(head.log_path)
    if head.returncode == 0:
        with open(png_path, "rb") as f:
            if f.read() != reference:
                raise Failure(f"a render under chaos wrote a different PNG:\n{log}")
        return "identical"
    if head.returncode < 0 or head.returncode >= 128:
        raise Failure(f"the head died with status {head.returncode}:\n{log}")
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    if not errors:
        raise Failure(f"the head exited {head.returncode} without an error line:\n{log}")
    return errors[-1]


def renders_under_chaos(run, args, start_head, victims, supervise):
    """Renders back to back while killing one of victims() every interval; returns outcomes."""
    reference = reference_png(run, VIEW)
    interval = args.interval_ms / 1000
    chaos_end = time.monotonic() + args.seconds
    next_kill = time.monotonic() + interval
    kills, outcomes = 0, []
    rng = random.Random(10)
    while True:
        png = os.path.join(run.dir, f"render-{len(outcomes)}.png")
        head = start_head(png)
        started = time.monotonic()
        while head.poll() is None:
            now = time.monotonic()
            if now - started > RENDER_LIMIT_S:
                raise Failure(f"a render hung for {RENDER_LIMIT_S} s:\n{read(head.log_path)}"
                              f"\n{stacks(head.pid)}")
            if now > chaos_end + AFTER_CHAOS_S:
                raise Failure(f"the head did not end within {AFTER_CHAOS_S} s after the chaos "
                              f"({kills} kills):\n{read(head.log_path)}\n{stacks(head.pid)}")
            supervise(head)
            if now < chaos_end and now >= next_kill:
                next_kill += interval
                alive = victims(head)
                if alive:
                    try:
                        os.kill(rng.choice(alive), signal.SIGKILL)
                        kills += 1
                    except OSError:
                        pass
            time.sleep(0.01)
        outcomes.append(judge(head, png, reference))
        if time.monotonic() >= chaos_end:
            break
    identical = outcomes.count("identical")
    print(f"chaos: {kills} SIGKILLs in {args.seconds:g} s, {len(outcomes)} renders: "
          f"{identical} identical PNGs, {len(outcomes) - identical} clear errors")
    for outcome in sorted(set(outcomes) - {"identical"}):
        print(f"  {outcome}")
    if kills == 0:
        raise Failure("nothing was killed")
    return outcomes


def expect_nothing_left(run, within_s, what):
    until = time.monotonic() + within_s
    while time.monotonic() < until:
        if not run.processes():
            return
        time.sleep(0.05)
    left = run.processes()
    if left:
        raise Failure(f"{what}, processes still running after {within_s} s:\n"
                      f"{run.describe(left)}")


def tcp_workers(run, args):
    workers = {}  # slot -> process
    restarts = 0

    def start_head(png):
        return run.start([*VIEW, "--workers", "0", "--listen", "127.0.0.1:0", "--min-workers",
                          "1", "--wait-workers", "60", "--out", png], "head")

    def supervise(head):
        nonlocal restarts
        found = re.search(r"^listening on port (\d+)", read(head.log_path), re.MULTILINE)
        if not found:
            return
        port = found.group(1)
        for slot in range(3):
            # A worker still serving a head that ended leaves on its own (checked at the end);
            # one that exited is replaced, joining the head of the moment.
            proc = workers.get(slot)
            if proc is None or proc.poll() is not None:
                workers[slot] = run.start(["--join", f"127.0.0.1:{port}", "--join-timeout",
                                           str(JOIN_TIMEOUT_S)], f"worker{slot}")
                restarts += proc is not None

    def victims(head):
        return [proc.pid for proc in workers.values() if proc.poll() is None]

    renders_under_chaos(run, args, start_head, victims, supervise)
    print(f"chaos: {restarts} TCP workers restarted")
    expect_nothing_left(run, AFTER_CHAOS_S, "after the last render")


def child_workers(run, args):
    def start_head(png):
        return run.start([*VIEW, "--workers", "2", "--out", png], "head")

    def victims(head):
        return children_of(head.pid)

    renders_under_chaos(run, args, start_head, victims, lambda head: None)
    expect_nothing_left(run, AFTER_CHAOS_S, "after the last render")


def head_killed(run, args):
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        name = signal.Signals(sig).name
        head = run.start([*BIG_VIEW, "--workers", "2", "--listen", "127.0.0.1:0", "--min-workers",
                          "2", "--wait-workers", "60", "--out", os.path.join(run.dir, "big.png")],
                         f"head-{name}")
        found = wait_for_line(head, r"^listening on port (\d+)", 60)
        if not found:
            raise Failure(f"{name}: the head did not listen:\n{read(head.log_path)}")
        tcp = [run.start(["--join", f"127.0.0.1:{found.group(1)}", "--join-timeout",
                          str(JOIN_TIMEOUT_S), "--log-level", "info"], f"worker-{name}")
               for _ in range(2)]
        for worker in tcp:
            if not wait_for_line(worker, r"joined ", 60):
                raise Failure(f"{name}: a TCP worker did not join:\n{read(worker.log_path)}")
        if not wait_for_line(head, r"^rendering on ", 60):
            raise Failure(f"{name}: the head did not render:\n{read(head.log_path)}")
        time.sleep(0.5)  # mid-render: the workers hold tiles
        if head.poll() is not None:
            raise Failure(f"{name}: the render ended before the signal; make BIG_VIEW bigger")
        children = children_of(head.pid)
        if len(children) < 2:
            raise Failure(f"{name}: the head has {len(children)} worker processes, not 2")
        head.send_signal(sig)
        try:
            head.wait(AFTER_CHAOS_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"{name}: the head still runs {AFTER_CHAOS_S} s after {name}:\n"
                          f"{read(head.log_path)}")
        expect_nothing_left(run, AFTER_CHAOS_S, f"after {name} of the head")
        print(f"ok: {name} of the head: head, 2 child and 2 TCP workers gone "
              f"within {AFTER_CHAOS_S} s")


SCENARIOS = {"tcp-workers": tcp_workers, "child-workers": child_workers,
             "head-killed": head_killed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the mandelbrot executable")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval-ms", type=int, default=200)
    args = parser.parse_args()
    run = Run(os.path.abspath(args.bin))
    try:
        SCENARIOS[args.scenario](run, args)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"logs: {run.dir}", file=sys.stderr)
        return 1
    finally:
        run.kill_all()
    shutil.rmtree(run.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
