"""What the Python benchmarks read of a process in /proc (python_peers.py, hosts_scale.py)."""
import glob


class ProcError(Exception):
    pass


def cpu_ns(pid):
    """Nanoseconds on CPU of a process's live threads (the first field of each
    /proc/PID/task/*/schedstat), as troupe_bench measures them: /proc/PID/stat's 10 ms clock
    ticks are coarser than an idle process's use over a few seconds."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def field_kib(pid, name, field):
    """A `Field: N kB` line of /proc/PID/NAME (smaps_rollup, status), as a number."""
    with open(f"/proc/{pid}/{name}") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise ProcError(f"no {field} in /proc/{pid}/{name}")
