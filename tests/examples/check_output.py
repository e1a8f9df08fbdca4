#!/usr/bin/env python3
"""Runs an example and checks what it prints (the examples' output is their contract).

  check_output.py [--in-order REGEX]... [--count REGEX N]... [--last REGEX] -- CMD ARGS...

--in-order: each regex must match a line, in this order (other lines may come between).
--count: the regex must match exactly N lines. --last: the last line must match.
The command must exit with status 0 within --timeout seconds.
"""
import argparse
import re
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-order", action="append", default=[])
    parser.add_argument("--count", nargs=2, action="append", default=[])
    parser.add_argument("--last")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        sys.exit(f"FAIL: {cmd[0]} did not finish within {args.timeout} s\n{e.stdout}")
    lines = run.stdout.splitlines()
    problems = []
    if run.returncode != 0:
        problems.append(f"exit status {run.returncode}")
    at = 0
    for pattern in args.in_order:
        rx = re.compile(pattern)
        while at < len(lines) and not rx.search(lines[at]):
            at += 1
        if at == len(lines):
            problems.append(f"no line matching {pattern!r} (in order)")
            break
        at += 1
    for pattern, n in args.count:
        found = sum(1 for line in lines if re.search(pattern, line))
        if found != int(n):
            problems.append(f"{found} lines match {pattern!r}, expected {n}")
    if args.last and (not lines or not re.search(args.last, lines[-1])):
        problems.append(f"last line {lines[-1] if lines else ''!r} does not match {args.last!r}")
    if problems:
        sys.exit("FAIL: " + "; ".join(problems) + "\n--- stdout\n" + run.stdout
                 + "--- stderr\n" + run.stderr)
    print(f"ok: {len(lines)} lines")


if __name__ == "__main__":
    main()
