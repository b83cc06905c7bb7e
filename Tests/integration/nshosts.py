"""Test hosts on one machine for the multi-host tests and benchmark (issue 11).

Each `NamespaceHost` is a network + PID + mount + UTS namespace set (`ip netns` for the network, `unshare --pid
--mount-proc --uts` inside it, held open by a `sleep` that is the namespace's PID 1), joined by a veth pair to
a bridge in the root namespace. Addresses come from 10.231.X.0/24 with a free X, on the bridge and inside the
namespaces only, so all traffic stays inside this machine. `run()` starts a process inside a host with
`nsenter`; `Pki` makes certificates with `periscope certs`.
"""
import os
import secrets
import signal
import subprocess
import time

from conftest import BIN

PERISCOPE = str(BIN / "periscope")
PERISCOPED = str(BIN / "periscoped")


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


def children(pid):
    """Direct children of `pid` (root-namespace pids)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def wait_child(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = children(pid)
        if found:
            return found[0]
        time.sleep(0.02)
    raise RuntimeError(f"process {pid} started no child")


class Pki:
    """A CA and host certificates in `directory`, made by `periscope certs`."""

    def __init__(self, directory):
        self.dir = directory
        sh(PERISCOPE, "certs", "init", directory)

    def issue(self, name):
        sh(PERISCOPE, "certs", "issue", self.dir, name)
        return self.files(name)

    def files(self, name):
        return ["--tls-cert", f"{self.dir}/{name}.crt", "--tls-key", f"{self.dir}/{name}.key", "--tls-ca", f"{self.dir}/ca.crt"]


class Bridge:
    """A bridge in the root namespace with address 10.231.X.254/24 (X free)."""

    def __init__(self):
        used = sh("ip", "-o", "addr")
        for x in list(range(1, 250)):
            if f" 10.231.{x}." not in used:
                break
        self.subnet = f"10.231.{x}"
        self.name = "pb" + secrets.token_hex(3)
        # A fixed MAC: otherwise the bridge takes the lowest MAC of its ports, which changes as hosts join, and
        # the hosts' neighbour entries for the bridge address go stale mid-connection (lost segments, stalls).
        sh("ip", "link", "add", self.name, "address", "02:50:" + ":".join(secrets.token_hex(4)[i:i + 2] for i in range(0, 8, 2)),
           "type", "bridge")
        sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.name)
        sh("ip", "link", "set", self.name, "up")
        self.address = f"{self.subnet}.254"

    def remove(self):
        sh("ip", "link", "del", self.name, check=False)


class NamespaceHost:
    """One test host: its own network, PID, mount and UTS namespaces, hostname `name`, address `.index`."""

    def __init__(self, bridge, index, name):
        self.name = name
        self.address = f"{bridge.subnet}.{index}"
        self.netns = f"pn{secrets.token_hex(3)}"
        self.veth = f"pv{secrets.token_hex(3)}"
        sh("ip", "netns", "add", self.netns)
        sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        sh("ip", "link", "set", self.veth, "master", bridge.name, "up")
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{self.address}/24", "dev", "eth0"],
                    ["ip", "link", "set", "eth0", "up"]):
            sh("ip", "netns", "exec", self.netns, *cmd)
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--pid", "--mount-proc", "--uts", "--fork",
             "sh", "-c", f"hostname {name} && exec sleep 100000"], stdin=subprocess.DEVNULL)
        # ip netns exec execs unshare, whose forked child (the sh, then sleep) is the namespace's PID 1.
        self.init_pid = wait_child(self.holder.pid)
        deadline = time.monotonic() + 10
        while sh("nsenter", "-t", str(self.init_pid), "-u", "hostname", check=False).strip() != name:
            assert time.monotonic() < deadline, "the test host did not get its hostname"
            time.sleep(0.02)

    def run(self, argv, **popen):
        """Starts `argv` inside this host; returns (nsenter Popen, root-namespace pid of the program)."""
        proc = subprocess.Popen(["nsenter", "-t", str(self.init_pid), "-n", "-p", "-m", "-u", "--", *argv], **popen)
        return proc, wait_child(proc.pid)

    def link(self, up):
        sh("ip", "link", "set", self.veth, "up" if up else "down")

    def remove(self):
        try:
            os.kill(self.init_pid, signal.SIGKILL)  # PID 1 of the namespace: every process in it goes too
        except ProcessLookupError:
            pass
        self.holder.wait(timeout=10)
        sh("ip", "link", "del", self.veth, check=False)
        sh("ip", "netns", "del", self.netns, check=False)
