#!/usr/bin/env python3
"""python_peers: the Python multiprocessing / concurrent.futures figures troupe is compared with.

Usage: python3 bench/peers/python_peers.py [--quick] [--only METRIC]
Prints one JSON object per line per figure on stdout (nothing else); diagnostics go to stderr.
Standard library only; uses the platform's default multiprocessing start method (fork here).
"""

import argparse
import json
import multiprocessing as mp
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

PAD = b"x" * 24  # with the 8-byte sequence number: the same 32-byte payload as the C++ peers
CHILD_IDLE_TIMEOUT_S = 60  # a child never outlives a stuck or dead parent by longer than this
WAIT_TIMEOUT_S = 60        # longer than any measurement; reaching it means a hang
WHOLE_RUN_TIMEOUT_S = 300

# Known answers, so a broken prime counter cannot produce a fast but meaningless time.
PRIME_COUNTS = {500_000: 41538, 2_000_000: 148933}


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


def round_trip_pipe(warmup, n):
    """Median of n individual round trips (microseconds) after `warmup` untimed ones."""
    ours, theirs = mp.Pipe()
    proc = mp.Process(target=_pipe_echo, args=(theirs,), daemon=True)
    proc.start()
    theirs.close()
    samples = []
    try:
        for seq in range(warmup + n):
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
    return statistics.median(samples)


# ---- Pool with tiny tasks ---------------------------------------------------------------------

def pool_map_tiny(n):
    """Pool(2).map(square, range(n)) with the default chunksize, timed around the map only."""
    with mp.Pool(2) as pool:
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
    if sum(counts) != PRIME_COUNTS[limit]:
        raise Failure(f"counted {sum(counts)} primes below {limit}, expected "
                      f"{PRIME_COUNTS[limit]}")
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

    if wanted("one_way_throughput"):
        emit(only, "one_way_throughput", "python_mp_queue",
             one_way_queue(20_000 if quick else 200_000), "msgs/s")
    if wanted("round_trip"):
        trips = 2_000 if quick else 20_000
        emit(only, "round_trip", "python_pipe", round_trip_pipe(trips // 10, trips), "us")
    if wanted("pool_map_tiny"):
        # Same n in both modes: it takes well under a second, and the per-task rate of the
        # default chunking depends on n.
        emit(only, "pool_map_tiny", "python_pool", pool_map_tiny(200_000), "tasks/s")
    if wanted("pool_apply_async_tiny"):
        emit(only, "pool_apply_async_tiny", "python_pool",
             pool_apply_async_tiny(2_000 if quick else 20_000), "tasks/s")
    if wanted("cpu_primes_1_worker", "cpu_primes_2_workers", "cpu_speedup_2_workers"):
        limit = 500_000 if quick else 2_000_000
        one = time_primes(1, limit)
        two = time_primes(2, limit)
        emit(only, "cpu_primes_1_worker", "python_pool", one, "s")
        emit(only, "cpu_primes_2_workers", "python_pool", two, "s")
        emit(only, "cpu_speedup_2_workers", "python_pool", one / two, "x")
    if wanted("thread_pool_submit_tiny"):
        emit(only, "thread_pool_submit_tiny", "python_threadpool",
             thread_pool_submit_tiny(20_000 if quick else 200_000), "tasks/s")


KNOWN_METRICS = {
    "one_way_throughput", "round_trip", "pool_map_tiny", "pool_apply_async_tiny",
    "cpu_primes_1_worker", "cpu_primes_2_workers", "cpu_speedup_2_workers",
    "thread_pool_submit_tiny",
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
