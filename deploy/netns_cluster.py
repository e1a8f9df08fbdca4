"""netns_cluster.py: deploy/netns-cluster.sh from Python, for programs that run a cluster of
their own (bench/hosts_scale.py): one cluster per run, named after the run's pid, so that a run
finds and removes the clusters of earlier runs that were SIGKILLed before they could clean up.

    cluster = NetnsCluster("hs")        # prefix hs<pid>
    cluster.remove_stale()              # clusters hs<pid> whose process is gone
    cluster.up(9)                       # hosts 0-8; raises ClusterError
    address = cluster.addr(0)
    subprocess.Popen(cluster.exec_argv(3, "prog", "--flag"))   # the pid is the program's
    cluster.down()                      # True once no namespace of it is left
"""
import os
import re
import subprocess

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns-cluster.sh")


class ClusterError(Exception):
    """netns-cluster.sh failed: its status and what it said."""

    def __init__(self, args, res):
        super().__init__(f"netns-cluster.sh {' '.join(args)}: status {res.returncode}: "
                         f"{res.stderr.strip()}")
        self.stderr = res.stderr


def namespaces():
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


class NetnsCluster:
    def __init__(self, tag):
        self.tag = tag
        self.prefix = f"{tag}{os.getpid()}"
        self.made = False  # up was called: down has something to remove

    def run(self, *args, timeout=60):
        res = subprocess.run([SCRIPT, args[0], "--prefix", self.prefix, *args[1:]],
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise ClusterError(args, res)
        return res.stdout

    def remove_stale(self):
        """Removes the clusters of this tag whose run is gone; returns their prefixes."""
        stale = re.compile(rf"^{re.escape(self.tag)}(\d+)-sw$")
        removed = []
        for ns in namespaces():
            m = stale.match(ns)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                subprocess.run([SCRIPT, "down", "--prefix", self.tag + m.group(1)], timeout=60,
                               capture_output=True)
                removed.append(self.tag + m.group(1))
        return removed

    def up(self, hosts):
        self.made = True
        self.run("up", str(hosts))

    def addr(self, host):
        return self.run("addr", str(host)).strip()

    def exec_argv(self, host, *argv):
        """The command that runs argv on HOST (`exec` replaces itself: the same pid)."""
        return [SCRIPT, "exec", "--prefix", self.prefix, str(host), *argv]

    def down(self):
        """Ends what runs in the cluster and removes it; False (saying why) if some is left."""
        if not self.made:
            return True
        res = subprocess.run([SCRIPT, "down", "--prefix", self.prefix], capture_output=True,
                             text=True, timeout=60)
        left = [ns for ns in namespaces() if ns.startswith(self.prefix + "-")]
        self.failure = f"{res.stderr.strip()}; left: {left}"
        return res.returncode == 0 and not left
