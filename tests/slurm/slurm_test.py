#!/usr/bin/env python3
"""troupe on a real Slurm (issue 15): the test starts its own munged, slurmctld and slurmd (one
node, Debian's slurm-wlm and munge) in a private directory, with its own key, socket, ports,
state and spool, then submits deploy/slurm/render.sbatch with 4 tasks: rank 0 the mandelbrot
head, ranks 1-3 worker nodes joining it over TCP (deploy/slurm/troupe-srun-launch).

  render   the PNG is byte-identical to an in-process render (--workers 0) of the same size;
           every worker rank rendered tiles; while the job runs the job's directory is 0700 and
           its secret 0600, and no task's command line holds the secret; the directory is gone
           once the job ends
  kill     rank 2's task (found with `scontrol listpids`) is sent SIGKILL once a tenth of the
           tiles are done: its connection closes, the head re-dispatches its tiles and writes
           the identical PNG; srun reports the killed task and the job still succeeds
  scancel  `scancel JOB.0` mid-render cancels the whole step, the head with it (Slurm kills
           every task of a step): a clear error instead of an image (the step CANCELLED, the
           job fails saying no image was written) and nothing of the step is left running
  refuse   the launcher outside Slurm, under `srun -n 1`, and with a secret others can read
           (0644): one line on stderr from each task and exit status 2, at once

  slurm_test.py [all|render|kill|scancel|refuse] MANDELBROT

Every wait is bounded, the whole run too (it ends itself before CTest would kill it). On every
exit path (SIGTERM included) it cancels its jobs, stops its daemons by the pids in their pid
files, kills what is left of its processes (those whose environment carries this run's marker)
and removes its directory; what a SIGKILLed run left is stopped and removed by the next run.
It never touches a Slurm or munge it did not start: one already running on the machine keeps
its own key, socket and ports, and so does this test's. Exits 77 (ctest SKIP_RETURN_CODE) with
the reason when not root or slurm-wlm or munge is missing."""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from harness import Failure, fail, note, reference_render, run_bounded, skip, wait_for  # noqa: E402
SLURM_DIR = os.path.join(HERE, "..", "..", "deploy", "slurm")
SBATCH_SCRIPT = os.path.abspath(os.path.join(SLURM_DIR, "render.sbatch"))
LAUNCHER = os.path.abspath(os.path.join(SLURM_DIR, "troupe-srun-launch"))

TASKS = 4
# 480x300 at 20000 iterations: a few seconds on 3 worker tasks here, long enough to kill one
# or cancel the step while every rank still holds tiles.
IMAGE = ["--width", "480", "--height", "300", "--iterations", "20000"]
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scancel", "scontrol", "sinfo",
         "squeue")
# The daemons live in /usr/sbin, which a non-login root shell's PATH may lack.
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# The whole run, kept below CTest's TIMEOUT (tests/slurm/CMakeLists.txt) so that the cleanup
# runs instead of being SIGKILLed with the test.
RUN_BOUND_S = 200
JOB_BOUND_S = 60
# What the test's processes carry in their environment (the daemons, the jobs' tasks and every
# child): the cleanup ends what carries it and nothing else.
MARKER = "TROUPE_SLURM_TEST_RUN"
# The pid of the run that owns a directory, for the next run to tell a SIGKILLed one.
OWNER = "owner.pid"


def tool(name):
    return shutil.which(name, path=TOOL_PATH)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tail(path, lines=15):
    return f"--- {path}:\n" + "\n".join(read(path).splitlines()[-lines:])


def free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def marked_pids(marker_value):
    """The processes that carry this run's marker (zombies left out), never this one."""
    wanted = f"{MARKER}={marker_value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if wanted not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def naming(directory):
    """The processes whose command line names DIRECTORY: this run's daemons (their key, socket
    and slurm.conf are in it) and no one else's, as the directory is this run's own."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and pid_alive(int(entry)):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if directory.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Cluster:
    """munged, slurmctld and slurmd of this run, everything under one private directory."""

    def __init__(self, workdir):
        self.dir = workdir
        self.conf = os.path.join(workdir, "slurm.conf")
        # Slurm and launcher settings of the caller's shell would reach sbatch and srun.
        self.env = {n: v for n, v in os.environ.items()
                    if not n.startswith(("SLURM_", "SBATCH_", "SRUN_", "TROUPE_SLURM_"))}
        self.env.update({"SLURM_CONF": self.conf, MARKER: workdir})
        self.daemons = []  # (name, pid file), in the order they were started
        self.node = socket.gethostname().split(".")[0]

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *cmd, timeout=30, check=True):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env,
                             cwd=self.dir, stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            fail(f"{' '.join(cmd)}: status {res.returncode}: {res.stdout}{res.stderr}")
        return res

    def start_daemon(self, name, pid_file, log_file, cmd):
        self.daemons.append((name, pid_file))
        res = self.run(*cmd, check=False)
        if res.returncode != 0:
            fail(f"{name} did not start (status {res.returncode}): {res.stderr.strip()}\n"
                 + tail(log_file))
        wait_for(f"{name} writes its pid file", lambda: read(pid_file).strip().isdigit(), 10)
        pid = int(read(pid_file))
        if not pid_alive(pid):
            fail(f"{name} (pid {pid}) exited after it started\n" + tail(log_file))
        return pid

    def start(self):
        key = self.path("munge.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        os.write(fd, os.urandom(1024))
        os.close(fd)
        socket_path = self.path("munge.socket")
        # --force: munged refuses a socket in a directory others cannot enter (this 0700 one)
        # without it; only root's daemons use the socket here.
        self.start_daemon("munged", self.path("munged.pid"), self.path("munged.log"), [
            tool("munged"), "--force", f"--socket={socket_path}", f"--key-file={key}",
            f"--pid-file={self.path('munged.pid')}", f"--log-file={self.path('munged.log')}",
            f"--seed-file={self.path('munged.seed')}"])
        for d in ("state", "spool"):
            os.mkdir(self.path(d), 0o700)
        ctld_port, slurmd_port = free_port(), free_port()
        cpus = os.cpu_count() or 1
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "ClusterName=trouptest",
                f"SlurmctldHost={self.node}",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={socket_path}",
                # No cgroups, no accounting: nothing outside this directory is needed or touched.
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MailProg=/bin/true",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "ReturnToService=2",
                "MpiDefault=none",
                f"StateSaveLocation={self.path('state')}",
                f"SlurmdSpoolDir={self.path('spool')}",
                f"SlurmctldPidFile={self.path('slurmctld.pid')}",
                f"SlurmdPidFile={self.path('slurmd.pid')}",
                f"SlurmctldLogFile={self.path('slurmctld.log')}",
                f"SlurmdLogFile={self.path('slurmd.log')}",
                f"NodeName={self.node} CPUs={cpus} State=UNKNOWN",
                f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP "
                f"OverSubscribe=FORCE:{TASKS}",
                ""]))
        self.start_daemon("slurmctld", self.path("slurmctld.pid"), self.path("slurmctld.log"),
                          [tool("slurmctld"), "-f", self.conf])
        self.start_daemon("slurmd", self.path("slurmd.pid"), self.path("slurmd.log"),
                          [tool("slurmd"), "-f", self.conf])

        def node_idle():
            res = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            return res.returncode == 0 and res.stdout.strip() == "idle"

        try:
            wait_for(f"node {self.node} idle in sinfo", node_idle, 30, interval=0.2)
        except Failure as e:
            fail(f"{e}\n{tail(self.path('slurmctld.log'))}\n{tail(self.path('slurmd.log'))}")

    def jobs(self):
        try:
            res = self.run("squeue", "-h", "-o", "%i", check=False, timeout=15)
        except subprocess.TimeoutExpired:  # no slurmctld answers (a stale run's may be gone)
            return []
        return res.stdout.split() if res.returncode == 0 else []

    def stop(self):
        """Cancels the jobs, then stops the daemons (last started first) by their pid files; a
        pid is signalled only if it is still that daemon of this run (its command line names
        this run's directory)."""
        problems = []
        if self.daemons and self.jobs():
            self.run("scancel", *self.jobs(), check=False)
            deadline = time.monotonic() + 40
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.jobs():
                problems.append(f"jobs {self.jobs()} did not end within 40 s of scancel")
        for name, pid_file in reversed(self.daemons):
            text = read(pid_file).strip()
            if not text.isdigit():
                continue
            pid = int(text)
            if pid not in naming(self.dir):
                continue  # gone, or its pid now belongs to someone else
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                problems.append(f"{name} (pid {pid}) ignored SIGTERM for 10 s: killed")
                os.kill(pid, signal.SIGKILL)
        self.daemons = []
        # What a SIGKILLed daemon or a cancelled step may leave: slurmstepd, tasks.
        left = marked_pids(self.dir)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            problems.append(f"processes left after the daemons stopped, killed: {left}")
        unmarked = naming(self.dir)
        for pid in unmarked:
            os.kill(pid, signal.SIGKILL)
        if unmarked:
            problems.append(f"processes of this run without its marker, killed: {unmarked}")
        return problems


def remove_stale_runs():
    """A run that was SIGKILLed (CTest's timeout, kill -9) could not clean up: the next run stops
    what it left (daemons, tasks: the processes carrying its directory as their marker) and
    removes its directory. A run whose pid still lives is left alone."""
    for workdir in glob.glob(os.path.join(tempfile.gettempdir(), "troupe-slurm.*")):
        owner = read(os.path.join(workdir, OWNER)).strip()
        if not owner.isdigit() or pid_alive(int(owner)):
            continue
        note(f"stopping what the run of pid {owner} (gone) left in {workdir}")
        stale = Cluster(workdir)
        stale.daemons = [(d, stale.path(d + ".pid")) for d in ("munged", "slurmctld", "slurmd")]
        for problem in stale.stop():
            note(problem)
        shutil.rmtree(workdir, ignore_errors=True)


class Job:
    """render.sbatch submitted to the test's cluster; its end and exit status read from
    `scontrol show job` (the test's slurmctld keeps finished jobs for MinJobAge, 300 s)."""

    ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
             "BOOT_FAIL", "DEADLINE", "PREEMPTED")

    def __init__(self, cluster, binary, tag):
        self.cluster = cluster
        self.binary = binary
        self.submit_dir = cluster.path(tag)
        os.mkdir(self.submit_dir)
        self.png = os.path.join(self.submit_dir, "mandelbrot.png")
        self.output = os.path.join(self.submit_dir, "job.out")
        env = dict(cluster.env, TROUPE_PROGRAM=binary, TROUPE_LAUNCH=LAUNCHER, OUT=self.png)
        self.started = time.monotonic()
        res = subprocess.run(
            ["sbatch", "--parsable", "-n", str(TASKS), "--overcommit", "-o", self.output,
             "-J", f"troupe-{tag}", SBATCH_SCRIPT, *IMAGE, "--log-level", "info"],
            capture_output=True, text=True, env=env, cwd=self.submit_dir, timeout=30,
            stdin=subprocess.DEVNULL)
        self.id = res.stdout.strip().split(";")[0]
        if res.returncode != 0 or not self.id.isdigit():
            fail(f"sbatch: status {res.returncode}: {res.stdout}{res.stderr}")

    def state(self):
        """(JobState, exit status) as slurmctld has them."""
        res = self.cluster.run("scontrol", "show", "job", "-o", self.id, check=False)
        state = re.search(r"JobState=(\S+)", res.stdout)
        code = re.search(r"ExitCode=(\d+):(\d+)", res.stdout)
        return (state.group(1) if state else "UNKNOWN",
                int(code.group(1)) if code else None)

    def ended(self):
        return self.state()[0] in self.ENDED

    def finish(self, timeout=JOB_BOUND_S):
        """Waits for the job's end; returns its state and the batch script's exit status."""
        try:
            wait_for(f"job {self.id} ends", self.ended, timeout, interval=0.2)
        except Failure:
            self.cluster.run("scancel", self.id, check=False)
            fail(f"job {self.id} still runs after {timeout} s; its output:\n{self.text()}")
        self.took = time.monotonic() - self.started
        return self.state()

    def text(self):
        return read(self.output)

    def job_dir(self):
        return os.path.join(self.submit_dir, f"troupe-job-{self.id}")

    def tenth_done(self):
        """Waits until a tenth of the tiles are rendered (the head's progress lines)."""

        def fraction():
            done = re.findall(r"progress: (\d+)/(\d+) tiles", self.text())
            if done and int(done[-1][0]) / int(done[-1][1]) >= 0.1:
                return True
            return -1 if self.ended() else False

        if wait_for("a tenth of the tiles rendered", fraction, 40, interval=0.1) == -1:
            fail("the job ended before a tenth of the tiles were rendered:\n" + self.text())

    def task_pids(self):
        """{rank: pid} of step 0's tasks, as Slurm sees them."""
        res = self.cluster.run("scontrol", "listpids", f"{self.id}.0", check=False)
        pids = {}
        for line in res.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 5 and fields[4].isdigit():
                pids[int(fields[4])] = int(fields[0])
        return pids

    def check_png(self, reference):
        if not os.path.exists(self.png):
            fail(f"job {self.id} wrote no image:\n{self.text()}")
        with open(self.png, "rb") as a, open(reference, "rb") as b:
            if a.read() != b.read():
                fail(f"{self.png} differs from the in-process render {reference}")


def check_secret_private(job):
    """While the job runs: its directory 0700, the secret 0600, no task's command line with it."""
    directory = job.job_dir()
    secret_path = os.path.join(directory, "secret")
    wait_for("the job's secret exists", lambda: os.path.exists(secret_path), 10)
    modes = {p: os.stat(p).st_mode & 0o777 for p in (directory, secret_path)}
    if modes != {directory: 0o700, secret_path: 0o600}:
        fail(f"the job's directory and secret have modes {[oct(m) for m in modes.values()]}, "
             "expected 0700 and 0600")
    secret = read(secret_path).strip()

    def programs_running():
        """{rank: (pid, command line)} once every task's launcher replaced itself with the
        program (a worker's waits for the head's address first)."""
        found = {}
        for rank, pid in job.task_pids().items():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                return None
            if argv[0] != job.binary:
                return None
            found[rank] = (pid, argv)
        return found if len(found) == TASKS else None

    tasks = wait_for(f"all {TASKS} tasks run the program", programs_running, 20, interval=0.1)
    for rank, (pid, argv) in tasks.items():
        if any(secret in arg for arg in argv):
            fail(f"rank {rank}'s command line holds the cluster secret")
        if "--secret-file" not in argv:
            fail(f"rank {rank} (pid {pid}) runs without --secret-file: {argv}")
    return {rank: pid for rank, (pid, _) in tasks.items()}


def scenario_render(cluster, binary, reference):
    job = Job(cluster, binary, "render")
    check_secret_private(job)
    state, status = job.finish()
    text = job.text()
    if (state, status) != ("COMPLETED", 0):
        fail(f"job {job.id}: {state}, exit status {status}:\n{text}")
    job.check_png(reference)
    tiles = re.search(r"tiles per worker:(.*)", text)
    ranks = dict(re.findall(r"(rank\d+)=(\d+)", tiles.group(1))) if tiles else {}
    if sorted(ranks) != ["rank1", "rank2", "rank3"] or "0" in ranks.values():
        fail(f"not every worker rank rendered tiles: {tiles and tiles.group(0)}\n{text}")
    if "workers lost" in text:
        fail(f"a worker was lost in a render without faults:\n{text}")
    if os.path.exists(job.job_dir()):
        fail(f"the job's directory {job.job_dir()} is left after the job: "
             f"{os.listdir(job.job_dir())}")
    note(f"job {job.id}: {TASKS} tasks, {job.took:.1f} s from sbatch to its end, PNG identical; "
         f"tiles per worker: {tiles.group(1).strip()}")


def scenario_kill(cluster, binary, reference):
    job = Job(cluster, binary, "kill")
    pids = check_secret_private(job)
    job.tenth_done()
    victim = pids[2]
    with open(f"/proc/{victim}/cmdline", "rb") as f:
        if b"rank2" not in f.read():
            fail(f"pid {victim}, rank 2 in scontrol listpids, is not the worker named rank2")
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    note(f"rank 2 (pid {victim}) killed {killed - job.started:.1f} s after sbatch")
    state, status = job.finish()
    text = job.text()
    if (state, status) != ("COMPLETED", 0):
        fail(f"job {job.id}: {state}, exit status {status} after a worker task was killed:\n"
             + text)
    job.check_png(reference)
    lost = re.search(r"workers lost: (\d+), tiles re-dispatched: (\d+)", text)
    if not lost or lost.group(1) != "1":
        fail(f"the head does not report one worker lost:\n{text}")
    for said in ("task 2: Killed", "a task of the step failed"):
        if said not in text:
            fail(f"the job's output does not say {said!r}:\n{text}")
    note(f"job {job.id}: PNG identical, {lost.group(2)} tiles re-dispatched, job status 0, "
         f"srun said 'task 2: Killed'; {job.took:.1f} s")


def scenario_scancel(cluster, binary):
    job = Job(cluster, binary, "scancel")
    wait_for("all 4 tasks running", lambda: len(job.task_pids()) == TASKS, 20)
    job.tenth_done()
    pids = job.task_pids()
    cluster.run("scancel", f"{job.id}.0")
    state, status = job.finish()
    text = job.text()
    if state != "FAILED" or not status:
        fail(f"job {job.id}: {state}, exit status {status}, although its step was cancelled:\n"
             + text)
    if os.path.exists(job.png):
        fail(f"job {job.id} left an image although its step was cancelled:\n{text}")
    for said in (f"STEP {job.id}.0 ON {cluster.node} CANCELLED", "render.sbatch: error: no image"):
        if said not in text:
            fail(f"the job's output does not say {said!r}:\n{text}")
    alive = [pid for pid in pids.values() if pid_alive(pid)]
    if alive:
        fail(f"tasks of the cancelled step still run: {alive}")
    error = re.search(r"^render\.sbatch: error: .*", text, re.M).group(0)
    note(f"job {job.id}: {state}, exit status {status}, every task ended, no image: {error}")


def launcher_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("troupe-srun-launch:")]


def scenario_refuse(cluster, binary):
    """The launcher in the wrong environment: one line per task, exit status 2, within
    seconds (no task waits out the join timeout)."""
    outside = {n: v for n, v in cluster.env.items() if not n.startswith("SLURM_")}
    res = subprocess.run([LAUNCHER, binary], capture_output=True, text=True, timeout=30,
                         env=outside, stdin=subprocess.DEVNULL)
    if res.returncode != 2 or len(res.stderr.splitlines()) != 1 \
            or "not running under Slurm" not in res.stderr:
        fail(f"outside Slurm: status {res.returncode}, stderr {res.stderr!r}")
    note(f"outside Slurm: status 2, {res.stderr.strip()}")

    res = cluster.run("srun", "-n", "1", LAUNCHER, binary, check=False)
    lines = launcher_lines(res.stderr)
    if res.returncode != 2 or len(lines) != 1 or "at least 2" not in lines[0]:
        fail(f"srun -n 1: status {res.returncode}, stderr {res.stderr!r}")
    note(f"srun -n 1: status 2, {lines[0]}")

    shared = cluster.path("readable-secret")
    os.mkdir(shared, 0o700)
    with open(os.path.join(shared, "secret"), "w") as f:
        f.write(os.urandom(32).hex())
    os.chmod(os.path.join(shared, "secret"), 0o644)
    env = dict(cluster.env, TROUPE_SLURM_DIR=shared)
    start = time.monotonic()
    res = subprocess.run(["srun", "-n", str(TASKS), "--overcommit", LAUNCHER, binary],
                         capture_output=True, text=True, timeout=60, env=env, cwd=cluster.dir,
                         stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    lines = launcher_lines(res.stderr)
    if res.returncode != 2 or len(lines) != TASKS or not all("mode 0644" in l for l in lines):
        fail(f"a secret others can read: status {res.returncode}, stderr {res.stderr!r}")
    if took > 20:
        fail(f"a secret others can read: the step took {took:.1f} s to fail")
    note(f"srun -n {TASKS} with a 0644 secret: status 2 in {took:.1f} s, every task said: "
         f"{lines[-1]}")


def run(scenario, binary, workdir):
    if os.geteuid() != 0:
        skip("the test runs its own slurmctld, slurmd and munged, which need root")
    missing = [t for t in TOOLS if tool(t) is None]
    if missing:
        skip(f"{', '.join(missing)} not installed (Debian packages slurm-wlm and munge; "
             "deploy/dev.sh deps installs them)")
    remove_stale_runs()
    global cluster
    cluster = Cluster(workdir)
    start = time.monotonic()
    cluster.start()
    note(f"munged, slurmctld, slurmd up, node {cluster.node} idle in "
         f"{time.monotonic() - start:.1f} s")
    reference = None
    if scenario in ("all", "render", "kill"):
        reference = reference_render(binary, os.path.join(workdir, "in-process.png"), IMAGE,
                                     workdir)
    for name, body in (("render", lambda: scenario_render(cluster, binary, reference)),
                       ("kill", lambda: scenario_kill(cluster, binary, reference)),
                       ("scancel", lambda: scenario_scancel(cluster, binary)),
                       ("refuse", lambda: scenario_refuse(cluster, binary))):
        if scenario in ("all", name):
            t = time.monotonic()
            print(f"=== {name}", flush=True)
            body()
            note(f"({time.monotonic() - t:.1f} s)")


cluster = None


def main():
    args = sys.argv[1:]
    if len(args) != 2 or args[0] not in ("all", "render", "kill", "scancel", "refuse"):
        print(__doc__)
        sys.exit(2)
    scenario, binary = args[0], os.path.abspath(args[1])
    workdir = tempfile.mkdtemp(prefix="troupe-slurm.")
    with open(os.path.join(workdir, OWNER), "w") as f:
        f.write(f"{os.getpid()}\n")
    start = time.monotonic()

    def cleanup():
        problems = cluster.stop() if cluster else []
        for problem in problems:
            print("FAIL: " + problem, flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
        return not problems

    if run_bounded(RUN_BOUND_S, lambda: run(scenario, binary, workdir), cleanup):
        print(f"PASS ({time.monotonic() - start:.1f} s)", flush=True)
        sys.exit(0)
    sys.exit(1)


if __name__ == "__main__":
    main()
