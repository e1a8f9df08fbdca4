#!/usr/bin/env python3
"""python_peers: the Python multiprocessing / concurrent.futures figures troupe is compared with.

Usage: python3 bench/peers/python_peers.py [--quick] [--only METRIC]
Prints one JSON object per line per figure on stdout (nothing else); diagnostics go to stderr.
Standard library only; uses the platform's default multiprocessing start method (fork here).
"""

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from procfs import cpu_ns, field_kib  # noqa: E402 (bench/procfs.py)

PAD = b"x" * 8  # with the 8-byte sequence number: the same 16-byte payload as the C++ peers
CHILD_IDLE_TIMEOUT_S = 60  # a child never outlives a stuck or dead parent by longer than this
WAIT_TIMEOUT_S = 60        # longer than any measurement; reaching it means a hang
WHOLE_RUN_TIMEOUT_S = 300

# Primes below PRIME_LIMIT in both modes (troupe counts to the same limit), checked against the
# known answer so that a broken counter cannot produce a fast but meaningless time.
PRIME_LIMIT = 2_000_000
PRIMES_BELOW_LIMIT = 148933

# The size sweep of one_way_bandwidth_*: payload bytes per message (the first 8 are the sequence
# number) and the metric suffix, as troupe_bench names them.
SWEEP = [(16, "16B"), (256, "256B"), (4096, "4KiB"), (65536, "64KiB"), (1048576, "1MiB")]

# The worker counts of the pool figures, the same as troupe_bench's.
MAP_WORKERS = (1, 2, 4, 8, 16)
LIFECYCLE_WORKERS = (2, 8, 32)
MAP_TASKS = 3_000_000  # both modes and every N: the default chunking makes the rate depend on n


class Failure(Exception):
    pass


def emit(only, metric, impl, value, unit):
    if only and only != metric:
        return
    value = float(f"{value:.6g}")  # the same 6 significant digits as the C++ peers
    print(json.dumps({"metric": metric, "impl": impl, "value": value, "unit": unit}), flush=True)


def reap(proc):
    """Waits briefly for a child, then escalates; never leaves it running."""
    proc.join(5)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()


def square(x):
    return x * x


# ---- one-way throughput: mp.Queue, one item per put ------------------------------------------

def _queue_receiver(items, acks, n):
    acks.put("ready")
    for expected in range(n):
        seq, _pad = items.get(timeout=CHILD_IDLE_TIMEOUT_S)
        if seq != expected:
            acks.put(-1)
            return
    acks.put(n)


def one_way_queue(n):
    """Timed from the first put until the receiver's final ack (it counted all n items)."""
    items, acks = mp.Queue(), mp.Queue()
    proc = mp.Process(target=_queue_receiver, args=(items, acks, n), daemon=True)
    proc.start()
    try:
        # Process start-up is not part of the figure.
        if acks.get(timeout=WAIT_TIMEOUT_S) != "ready":
            raise Failure("queue receiver did not start")
        start = time.perf_counter()
        for seq in range(n):
            items.put((seq, PAD))
        got = acks.get(timeout=WAIT_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    finally:
        reap(proc)
    if got != n:
        raise Failure(f"queue receiver reported {got}, expected {n}")
    return n / elapsed


# ---- round trip: Pipe send/recv ping-pong -----------------------------------------------------

def _pipe_echo(conn):
    while conn.poll(CHILD_IDLE_TIMEOUT_S):
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def round_trip_pipe(warmup, blocks, per_block):
    """The figure of bench-spec.md's block method: `blocks` blocks of `per_block` individual
    round trips (microseconds) after `warmup` untimed ones; the minimum of the block medians,
    so that neither a lucky nor an unlucky placement of the two processes decides it."""
    ours, theirs = mp.Pipe()
    proc = mp.Process(target=_pipe_echo, args=(theirs,), daemon=True)
    proc.start()
    theirs.close()
    samples = []
    try:
        for seq in range(warmup + blocks * per_block):
            start = time.perf_counter_ns()
            ours.send((seq, PAD))
            if not ours.poll(WAIT_TIMEOUT_S):
                raise Failure("pipe echo did not answer")
            echoed, _pad = ours.recv()
            rtt_ns = time.perf_counter_ns() - start
            if echoed != seq:
                raise Failure("pipe echo returned the wrong message")
            if seq >= warmup:
                samples.append(rtt_ns / 1000.0)
        ours.send(None)
    finally:
        reap(proc)
    return min_of_block_medians("python_pipe", samples, blocks)


def min_of_block_medians(impl, samples, blocks):
    per_block = len(samples) // blocks
    medians = [statistics.median(samples[b * per_block:(b + 1) * per_block])
               for b in range(blocks)]
    spread = " ".join(f"{m:.3g}" for m in medians)
    print(f"python_peers: {impl} round_trip block medians (us, {per_block} trips each): "
          f"{spread}", file=sys.stderr)
    return min(medians)


def quantile(samples, q):
    """The q-quantile as the C++ programs take it (peers/peer_round_trips.hpp): the sample at
    rank round(q * (n - 1)) in sorted order."""
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1) + 0.5)]


def emit_percentiles(only, metric, impl, samples):
    for suffix, q in (("p50", 0.50), ("p99", 0.99), ("p999", 0.999)):
        emit(only, f"{metric}_{suffix}", impl, quantile(samples, q), "us")


# ---- one-way bandwidth: Pipe send_bytes/recv_bytes ----------------------------------------------

def _bytes_receiver(conn, size, n):
    conn.send("ready")
    for expected in range(n):
        if not conn.poll(CHILD_IDLE_TIMEOUT_S):
            return
        data = conn.recv_bytes()
        if len(data) != size or struct.unpack_from("<Q", data)[0] != expected:
            conn.send(-1)
            return
    conn.send(n)


def bandwidth_messages(size, quick):
    """Messages per size: about 1.3 s of streaming at the rates seen here (quick: 0.4 s)."""
    full = {16: 150_000, 256: 150_000, 4096: 100_000, 65536: 60_000, 1048576: 3_000}
    return full[size] // 3 if quick else full[size]


def one_way_bandwidth_pipe(size, n):
    """MB/s (1e6 payload bytes per s): n messages of `size` bytes, each starting with its
    sequence number, timed from the first send_bytes until the receiver's ack (it checked all).
    The pipe's socket buffer is the flow control."""
    ours, theirs = mp.Pipe()
    proc = mp.Process(target=_bytes_receiver, args=(theirs, size, n), daemon=True)
    proc.start()
    theirs.close()
    buf = bytearray(b"x" * size)
    try:
        # Process start-up is not part of the figure.
        if not ours.poll(WAIT_TIMEOUT_S) or ours.recv() != "ready":
            raise Failure("the bytes receiver did not start")
        start = time.perf_counter()
        for seq in range(n):
            struct.pack_into("<Q", buf, 0, seq)
            ours.send_bytes(buf)
        if not ours.poll(WAIT_TIMEOUT_S):
            raise Failure("the bytes receiver did not answer")
        got = ours.recv()
        elapsed = time.perf_counter() - start
    finally:
        reap(proc)
    if got != n:
        raise Failure(f"the bytes receiver reported {got}, expected {n}")
    return n * size / elapsed / 1e6


# ---- Pool with tiny tasks ---------------------------------------------------------------------

def pool_map_tiny(n, workers=2):
    """Pool(workers).map(square, range(n)) with the default chunksize, timed around the map
    only."""
    with mp.Pool(workers) as pool:
        pool.map_async(square, range(16)).get(WAIT_TIMEOUT_S)  # workers up and warm
        start = time.perf_counter()
        # map() is map_async().get(); the async form lets a hang end in a timeout.
        result = pool.map_async(square, range(n)).get(WAIT_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    if len(result) != n or result[-1] != (n - 1) ** 2:
        raise Failure("pool.map returned a wrong result")
    return n / elapsed


def pool_apply_async_tiny(n):
    """n apply_async calls with a callback each; timed until the last callback ran."""
    done = threading.Event()
    state = {"count": 0, "error": None}

    # Callbacks all run on the pool's single result-handler thread, so no lock is needed.
    def on_result(_value):
        state["count"] += 1
        if state["count"] == n:
            done.set()

    def on_error(exc):
        state["error"] = exc
        done.set()

    with mp.Pool(2) as pool:
        pool.map_async(square, range(16)).get(WAIT_TIMEOUT_S)
        start = time.perf_counter()
        for i in range(n):
            pool.apply_async(square, (i,), callback=on_result, error_callback=on_error)
        finished = done.wait(WAIT_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    if not finished or state["error"] is not None:
        raise Failure(f"apply_async did not complete: {state['error']!r}")
    return n / elapsed


def apply_async_latency(warmup, n):
    """One call at a time: apply_async, wait for its result, next; n samples in microseconds
    after `warmup` untimed calls, Pool(2)."""
    samples = []
    with mp.Pool(2) as pool:
        for i in range(warmup + n):
            start = time.perf_counter_ns()
            result = pool.apply_async(square, (i,)).get(WAIT_TIMEOUT_S)
            latency_ns = time.perf_counter_ns() - start
            if result != i * i:
                raise Failure("apply_async returned a wrong result")
            if i >= warmup:
                samples.append(latency_ns / 1000.0)
    return samples


# ---- Pool life cycle: start to first result, join, idle costs ---------------------------------

def start_and_join(workers):
    """(ms from Pool(workers) to its first apply_async result, ms for close() + join() of the
    started pool once idle). The Pool constructor forks every worker; the pause lets them all
    reach their idle wait, as troupe_bench's pool after wait_for_workers."""
    start = time.perf_counter()
    pool = mp.Pool(workers)
    try:
        if pool.apply_async(square, (3,)).get(WAIT_TIMEOUT_S) != 9:
            raise Failure("the new pool's first result is wrong")
        first_ms = (time.perf_counter() - start) * 1000.0
        time.sleep(0.3)
        start = time.perf_counter()
        pool.close()
        pool.join()
        join_ms = (time.perf_counter() - start) * 1000.0
    finally:
        pool.terminate()
    return first_ms, join_ms


def cpu_ticks(pid):
    """utime + stime of a process (/proc/PID/stat fields 14 and 15), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_pool(seconds):
    """A started, idle Pool(2): (head ms CPU per s, ms CPU per s per worker, worker Rss MiB,
    worker Pss MiB; both per worker) over `seconds` of doing nothing."""
    with mp.Pool(2) as pool:
        pool.map_async(square, range(16)).get(WAIT_TIMEOUT_S)
        time.sleep(0.3)
        pids = [p.pid for p in pool._pool]  # the Pool has no public list of its processes
        everyone = [os.getpid(), *pids]  # the head first
        ns_before = [cpu_ns(pid) for pid in everyone]
        ticks_before = [cpu_ticks(pid) for pid in everyone]
        start = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - start
        ms_per_s = [(cpu_ns(pid) - b) / 1e6 / elapsed for pid, b in zip(everyone, ns_before)]
        by_stat = [(cpu_ticks(pid) - b) * 1000.0 / elapsed
                   for pid, b in zip(everyone, ticks_before)]
        print(f"python_peers: idle Pool(2) CPU over {elapsed:.1f} s (ms/s, head and workers): "
              "schedstat " + " ".join(f"{v:.3f}" for v in ms_per_s)
              + "; stat's utime + stime " + " ".join(f"{v:.1f}" for v in by_stat),
              file=sys.stderr)
        head = ms_per_s[0]
        worker = statistics.mean(ms_per_s[1:])
        rss = statistics.mean(field_kib(pid, "smaps_rollup", "Rss") for pid in pids) / 1024.0
        pss = statistics.mean(field_kib(pid, "smaps_rollup", "Pss") for pid in pids) / 1024.0
        print(f"python_peers: idle Pool(2) workers: Rss {rss:.1f} MiB, Pss {pss:.1f} MiB, "
              f"Pss_Anon {field_kib(pids[0], 'smaps_rollup', 'Pss_Anon'):.0f} kB (first worker)", file=sys.stderr)
        if [p.pid for p in pool._pool] != pids:
            raise Failure("a pool worker was replaced while idle")
    return head, worker, rss, pss


# ---- CPU-bound: counting primes ---------------------------------------------------------------

def count_primes(bounds):
    """Counts the primes n with lo <= n < hi by plain trial division (troupe's version must use
    exactly this algorithm): n < 2 is not prime; 2 is prime; any other even n is not; an odd
    n >= 3 is prime iff no odd d = 3, 5, 7, ... with d * d <= n divides it."""
    lo, hi = bounds
    count = 0
    for n in range(lo, hi):
        if n < 2:
            continue
        if n % 2 == 0:
            count += n == 2
            continue
        d = 3
        while d * d <= n:
            if n % d == 0:
                break
            d += 2
        else:
            count += 1
    return count


def prime_ranges(limit, parts=16):
    """[0, limit) cut into `parts` ranges of (nearly) equal length, not equal work."""
    return [(k * limit // parts, (k + 1) * limit // parts) for k in range(parts)]


def time_primes(workers, limit):
    with mp.Pool(workers) as pool:
        pool.map_async(square, range(16)).get(WAIT_TIMEOUT_S)
        start = time.perf_counter()
        counts = pool.map_async(count_primes, prime_ranges(limit), chunksize=1).get(
            WAIT_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    if sum(counts) != PRIMES_BELOW_LIMIT:
        raise Failure(f"counted {sum(counts)} primes below {limit}, expected "
                      f"{PRIMES_BELOW_LIMIT}")
    return elapsed


# ---- ThreadPoolExecutor -----------------------------------------------------------------------

def thread_pool_submit_tiny(n):
    """ThreadPoolExecutor() with default workers: submit n tiny tasks, wait for every future."""
    with ThreadPoolExecutor() as executor:
        # The executor starts its threads lazily; start them before timing.
        wait([executor.submit(square, i) for i in range(100)], timeout=WAIT_TIMEOUT_S)
        start = time.perf_counter()
        futures = [executor.submit(square, i) for i in range(n)]
        _done, pending = wait(futures, timeout=WAIT_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    if pending:
        raise Failure(f"{len(pending)} thread pool tasks did not finish")
    return n / elapsed


# ---- driver -----------------------------------------------------------------------------------

def run(quick, only):
    def wanted(*metrics):
        return not only or only in metrics

    # Start-up and the idle pool first, while this process is small: a Pool forked later would
    # share (and count in its Rss) the pages of every list built before.
    for workers in LIFECYCLE_WORKERS:
        first, join = f"pool_start_to_first_result_w{workers}", f"pool_join_w{workers}"
        if wanted(first, join):
            first_ms, join_ms = start_and_join(workers)
            emit(only, first, "python_pool", first_ms, "ms")
            emit(only, join, "python_pool", join_ms, "ms")
    if wanted("idle_cpu_head", "idle_cpu_worker", "idle_worker_rss", "idle_worker_pss"):
        head, worker, rss, pss = idle_pool(2.0 if quick else 4.0)
        emit(only, "idle_cpu_head", "python_pool", head, "ms/s")
        emit(only, "idle_cpu_worker", "python_pool", worker, "ms/s")
        emit(only, "idle_worker_rss", "python_pool", rss, "MiB")
        emit(only, "idle_worker_pss", "python_pool", pss, "MiB")
    if wanted("one_way_throughput"):
        emit(only, "one_way_throughput", "python_mp_queue",
             one_way_queue(20_000 if quick else 200_000), "msgs/s")
    for size, suffix in SWEEP:
        metric = f"one_way_bandwidth_{suffix}"
        if wanted(metric):
            emit(only, metric, "python_pipe",
                 one_way_bandwidth_pipe(size, bandwidth_messages(size, quick)), "MB/s")
    if wanted("round_trip"):
        blocks, per_block = (5, 1_000) if quick else (5, 4_000)  # as every peer's
        emit(only, "round_trip", "python_pipe",
             round_trip_pipe(blocks * per_block // 10, blocks, per_block), "us")
    if wanted("pool_map_tiny"):
        # Same n in both modes: it takes well under a second, and the per-task rate of the
        # default chunking depends on n.
        emit(only, "pool_map_tiny", "python_pool", pool_map_tiny(200_000), "tasks/s")
    for workers in MAP_WORKERS:
        metric = f"pool_map_tiny_w{workers}"
        if wanted(metric):
            emit(only, metric, "python_pool", pool_map_tiny(MAP_TASKS, workers), "tasks/s")
    if wanted("pool_apply_async_tiny"):
        emit(only, "pool_apply_async_tiny", "python_pool",
             pool_apply_async_tiny(2_000 if quick else 20_000), "tasks/s")
    latency = [f"apply_async_latency_{p}" for p in ("p50", "p99", "p999")]
    if wanted(*latency):
        n = 3_000 if quick else 20_000
        emit_percentiles(only, "apply_async_latency", "python_pool",
                         apply_async_latency(n // 10, n))
    if wanted("cpu_primes_1_worker", "cpu_primes_2_workers", "cpu_speedup_2_workers"):
        one = time_primes(1, PRIME_LIMIT)
        two = time_primes(2, PRIME_LIMIT)
        emit(only, "cpu_primes_1_worker", "python_pool", one, "s")
        emit(only, "cpu_primes_2_workers", "python_pool", two, "s")
        emit(only, "cpu_speedup_2_workers", "python_pool", one / two, "x")
    if wanted("thread_pool_submit_tiny"):
        emit(only, "thread_pool_submit_tiny", "python_threadpool",
             thread_pool_submit_tiny(20_000 if quick else 200_000), "tasks/s")


KNOWN_METRICS = {
    "one_way_throughput", "round_trip", "pool_map_tiny", "pool_apply_async_tiny",
    "cpu_primes_1_worker", "cpu_primes_2_workers", "cpu_speedup_2_workers",
    "thread_pool_submit_tiny", "idle_cpu_head", "idle_cpu_worker", "idle_worker_rss",
    "idle_worker_pss",
    *(f"one_way_bandwidth_{suffix}" for _size, suffix in SWEEP),
    *(f"apply_async_latency_{p}" for p in ("p50", "p99", "p999")),
    *(f"pool_map_tiny_w{n}" for n in MAP_WORKERS),
    *(f"pool_start_to_first_result_w{n}" for n in LIFECYCLE_WORKERS),
    *(f"pool_join_w{n}" for n in LIFECYCLE_WORKERS),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", metavar="METRIC", help="measure just this metric")
    args = parser.parse_args()
    if args.only and args.only not in KNOWN_METRICS:
        parser.error(f"unknown metric {args.only!r}")

    def on_alarm(_signum, _frame):
        raise Failure("run exceeded its time limit")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WHOLE_RUN_TIMEOUT_S)
    try:
        run(args.quick, args.only)
    except Exception as exc:  # every failure becomes one line on stderr and a non-zero exit
        print(f"python_peers: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
