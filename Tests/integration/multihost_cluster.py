"""The multi-host test cluster (issue 11): an aggregator in the root namespace and three namespace hosts
(`nshosts.NamespaceHost`) each publishing to it over mutual TLS, with certificates from `periscope certs`.
`test_multihost.py` drives it.
"""
import os
import socket
import subprocess
import tempfile

from conftest import free_port
from nshosts import PERISCOPED, Bridge, NamespaceHost, Pki
from rpc import Client, Peer, wait_until

REFRESH_MS = 500
EXPIRY_S = 6
NAMES = ["ph1", "ph2", "ph3"]
# Controls (SPEC 17.6): the aggregator allows these (not `stop`, to test its refusal); ph1 allows all, the others none.
AGGREGATOR_CONTROLS = "--controls=signal,logs,exec"
HOST_CONTROLS = {"ph1": ["--controls"]}


class Aggregator:
    """The aggregator daemon in the root namespace; `connect()` for rpc.Client."""

    def __init__(self, workdir, pki, bridge, port=None):
        self.socket_path = os.path.join(workdir, "aggregator.sock")
        self.port = port or free_port(bridge.address)
        self.address = f"{bridge.address}:{self.port}"
        self.log = open(os.path.join(workdir, "aggregator.log"), "a")
        self.proc = subprocess.Popen(
            [PERISCOPED, "--socket", self.socket_path, "--accept-reports", self.address, "--refresh-ms", str(REFRESH_MS),
             "--host-expiry", str(EXPIRY_S), AGGREGATOR_CONTROLS, *pki.files(socket.gethostname())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until(lambda: os.path.exists(self.socket_path), what="the aggregator's socket")

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.socket_path)
        return s

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="periscope-multihost-")
        self.pki = Pki(os.path.join(self.dir, "pki"))
        self.pki.issue(socket.gethostname())
        self.bridge = Bridge()
        self.hosts = {}
        self.daemons = {}
        self.peers = []
        self.aggregator = Aggregator(self.dir, self.pki, self.bridge)
        for index, name in enumerate(NAMES, start=1):
            self.pki.issue(name)
            self.hosts[name] = NamespaceHost(self.bridge, index, name)
        for name in NAMES:
            self.start_daemon(name)
        self.client = Client(self.aggregator)

    def start_daemon(self, name):
        log = open(os.path.join(self.dir, f"{name}.log"), "a")
        proc, pid = self.hosts[name].run(
            [PERISCOPED, "--socket", os.path.join(self.dir, f"{name}.sock"), "--publish", self.aggregator.address, "--refresh-ms", str(REFRESH_MS),
             *HOST_CONTROLS.get(name, []), *self.pki.files(name)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        self.daemons[name] = (proc, pid, log)

    def kill_daemon(self, name):
        proc, pid, log = self.daemons.pop(name)
        os.kill(pid, 9)
        proc.wait(timeout=10)
        log.close()

    def peer(self, host, code, *args):
        peer = Peer(["nsenter", "-t", str(self.hosts[host].init_pid), "-n", "-p", "-m", "-u", "--",
                     "python3", "-c", code, *map(str, args)])
        self.peers.append(peer)
        return peer

    def view(self, name):
        return self.client.call("topology/get", {"view": name})

    def health(self):
        return self.client.call("daemon/status")["collectors"]["aggregator"]

    def close(self):
        for peer in self.peers:
            peer.stop(kill=True)
        self.client.close()
        for name in list(self.daemons):
            self.kill_daemon(name)
        self.aggregator.stop()
        for host in self.hosts.values():
            host.remove()
        self.bridge.remove()
