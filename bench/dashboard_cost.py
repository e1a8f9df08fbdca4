#!/usr/bin/env python3
"""What --dashboard costs the process pool (issue 13). Three figures: troupe_bench's
pool_map_tiny and pool_apply_async_tiny (tiny tasks, so a per-task overhead shows; each
measurement lasts tens of milliseconds) and the mandelbrot demo's render time (2 workers,
about 2 s). Each runs three ways, interleaved in every repetition (the order reversed every
other one) so that other load on the machine hits all three alike:

  off       no --dashboard (no server thread, no observatory)
  on        --dashboard 127.0.0.1:0, nobody watching
  watched   --dashboard, with this script fetching /api/cluster and /metrics back to back every
            20 ms: 50 times what an open page and a 1 s Prometheus scrape ask
  attacked  --dashboard, with this script holding 1000 idle connections and 8 slowloris clients
            (a header trickled one byte a second) on its port for the whole run, reopening
            each one the head closes, 2 clients sending header lines without end and 4 KiB of
            random bytes a second

Prints a table of medians and each way's ratio to `off` (higher is better for tasks/s, lower
for seconds). Usage:
  python3 bench/dashboard_cost.py [--build-dir build] [--reps 7] [--metrics m1,m2]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

METRICS = ["pool_map_tiny", "pool_apply_async_tiny", "mandelbrot_render"]
POLL_INTERVAL_S = 0.02
WAYS = ["off", "on", "watched", "attacked"]
IDLE_CLIENTS = 1000
TRICKLING_CLIENTS = 8
FLOOD_CLIENTS = 2


def watch(stderr_path, stop):
    """Polls the dashboard the head announces on stderr, once a second, until `stop`."""
    url = None
    while not stop.is_set() and url is None:
        with open(stderr_path) as f:
            m = re.search(r"dashboard on (http://\S+/)", f.read())
        url = m.group(1) if m else None
        time.sleep(0.05)
    while not stop.wait(POLL_INTERVAL_S):
        for path in ("api/cluster", "metrics"):
            try:
                urllib.request.urlopen(url + path, timeout=2).read()
            except OSError:
                pass


def dashboard_url(stderr_path, stop):
    while not stop.is_set():
        with open(stderr_path) as f:
            m = re.search(r"dashboard on http://([0-9.]+):(\d+)/", f.read())
        if m:
            return m.group(1), int(m.group(2))
        time.sleep(0.01)
    return None


def open_to(where):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(where)
    return s


def closed_by_peer(s):
    """True once the head has closed `s` (readable with nothing to read, or an error)."""
    try:
        return s.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def flood(where, stop):
    """Sends header lines without end; when the head cuts the request off (its header limit),
    starts again on a new connection."""
    chunk = b"X-Flood: y\r\n" * 4096
    while not stop.is_set():
        try:
            with socket.create_connection(where, timeout=2) as s:
                s.sendall(b"GET /api/cluster HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while not stop.is_set():
                    s.sendall(chunk)
        except OSError:
            stop.wait(0.01)


def attack(stderr_path, stop):
    """Keeps the dashboard's port under attack until `stop`: IDLE_CLIENTS idle connections and
    TRICKLING_CLIENTS slowloris clients (a header trickled one byte a second), each reopened as
    soon as the head closes it (its idle and request deadlines), FLOOD_CLIENTS sending header
    lines without end, and a garbage sender."""
    where = dashboard_url(stderr_path, stop)
    if not where:
        return
    floods = [threading.Thread(target=flood, args=(where, stop)) for _ in range(FLOOD_CLIENTS)]
    for t in floods:
        t.start()
    idle = [open_to(where) for _ in range(IDLE_CLIENTS)]
    slow = [open_to(where) for _ in range(TRICKLING_CLIENTS)]
    started = [False] * len(slow)
    reopened = 0
    try:
        while not stop.wait(1.0):
            for i, s in enumerate(idle):
                if closed_by_peer(s):
                    s.close()
                    idle[i] = open_to(where)
                    reopened += 1
            for i, s in enumerate(slow):
                try:
                    s.send(b"x" if started[i] else b"GET / HTTP/1.1\r\nX-Slow: ")
                    started[i] = True
                except BlockingIOError:
                    pass  # still connecting
                except OSError:
                    s.close()
                    slow[i], started[i] = open_to(where), False
                    reopened += 1
            try:
                with socket.create_connection(where, timeout=1) as g:
                    g.sendall(os.urandom(4096))
            except OSError:
                pass
    finally:
        for s in idle + slow:
            s.close()
        for t in floods:
            t.join()
        print(f"  attack: {reopened} connections reopened after the head closed them",
              file=sys.stderr)


def run_once(build_dir, metric, way, workdir):
    if metric == "mandelbrot_render":
        argv = [os.path.join(build_dir, "examples", "mandelbrot"), "--workers", "2",
                "--iterations", "5000", "--out", os.path.join(workdir, "m.png")]
    else:
        argv = [os.path.join(build_dir, "bench", "troupe_bench"), "--only", metric]
    if way != "off":
        argv += ["--dashboard", "127.0.0.1:0"]
    stderr_path = os.path.join(workdir, f"{metric}-{way}.err")
    stop = threading.Event()
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        watcher = None
        if way in ("watched", "attacked"):
            watcher = threading.Thread(target=watch if way == "watched" else attack,
                                       args=(stderr_path, stop))
            watcher.start()
        try:
            out, _ = proc.communicate(timeout=300)
        finally:
            stop.set()
            if watcher:
                watcher.join()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with {proc.returncode}; see {stderr_path}")
    if metric == "mandelbrot_render":
        m = re.search(r"rendered in ([0-9.]+) s", out)
        if not m:
            sys.exit(f"{' '.join(argv)} printed no render time")
        return float(m.group(1)), "s"
    for line in out.splitlines():
        record = json.loads(line)
        if record["metric"] == metric:
            return record["value"], record["unit"]
    sys.exit(f"{' '.join(argv)} printed no {metric}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--metrics", default=",".join(METRICS),
                        help="which of " + ", ".join(METRICS))
    args = parser.parse_args()
    metrics = [m for m in args.metrics.split(",") if m]
    if unknown := [m for m in metrics if m not in METRICS]:
        sys.exit(f"unknown metric {unknown[0]}: one of {', '.join(METRICS)}")
    build_dir = os.path.abspath(args.build_dir)
    workdir = os.path.join(args.build_dir, "bench-dashboard")
    os.makedirs(workdir, exist_ok=True)
    samples = {(m, w): [] for m in metrics for w in WAYS}
    units = {}
    for rep in range(args.reps):
        for metric in metrics:
            order = WAYS if rep % 2 == 0 else list(reversed(WAYS))
            for way in order:
                value, units[metric] = run_once(build_dir, metric, way, workdir)
                samples[(metric, way)].append(value)
        print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)
    print(f"| metric | way | median | min | max | median / off |")
    print(f"|---|---|---|---|---|---|")
    for metric in metrics:
        base = statistics.median(samples[(metric, "off")])
        for way in WAYS:
            s = samples[(metric, way)]
            med = statistics.median(s)
            digits = 3 if units[metric] == "s" else 0
            print(f"| {metric} | {way} | {med:,.{digits}f} {units[metric]} | {min(s):,.{digits}f} | "
                  f"{max(s):,.{digits}f} | {med / base:.3f} |")


if __name__ == "__main__":
    main()
