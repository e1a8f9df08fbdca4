"""What the Python tests that run a cluster of processes share (tests/netns, tests/slurm): a
failure that carries its reason, a skip that says why (CTest's SKIP_RETURN_CODE 77), bounded
waits, the in-process render every distributed one is compared with, and a run that bounds
itself and cleans up on every exit path (SIGTERM and SIGINT included)."""
import signal
import subprocess
import time

SKIP = 77


class Failure(Exception):
    pass


def fail(message):
    raise Failure(message)


def skip(message):
    print("SKIP: " + message, flush=True)
    raise SystemExit(SKIP)


def note(message):
    print("    " + message, flush=True)


def wait_for(what, check, timeout, interval=0.05):
    """Polls check() until it returns something true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            fail(f"{what}: not within {timeout} s")
        time.sleep(interval)


def reference_render(binary, out, image, cwd):
    """The mandelbrot image rendered in one process (--workers 0): the PNG every distributed
    render of the same IMAGE flags must equal byte for byte."""
    start = time.monotonic()
    res = subprocess.run([binary, "--workers", "0", "--out", out, *image], capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    if res.returncode != 0:
        fail(f"in-process render: status {res.returncode}: {res.stdout}{res.stderr}")
    note(f"in-process render: {time.monotonic() - start:.1f} s")
    return out


def run_bounded(bound_s, body, cleanup):
    """Runs body(), which fails by raising Failure; SIGTERM, SIGINT and running past BOUND_S
    seconds (kept below CTest's TIMEOUT, whose kill would skip the cleanup) fail it too. Then
    cleanup(), with those signals ignored, whatever happened. True if both went well."""

    def on_signal(signum, _frame):
        raise Failure(f"{signal.Signals(signum).name} (the run took longer than {bound_s} s, "
                      "or it was stopped)")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(bound_s)
    ok = False
    try:
        body()
        ok = True
    except Failure as e:
        print("FAIL: " + str(e), flush=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cleaned = cleanup()
    return ok and cleaned
