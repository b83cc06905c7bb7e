"""Issue #10: no other user can impersonate the daemon (the daemon refuses an unsafe socket
directory, the clients refuse a peer of another user), and a stopping daemon never removes a socket
that is no longer its own."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from cli_helpers import PERISCOPE, PERISCOPED, FakeDaemon, run, start_daemon, stop
from conftest import REPO

pytestmark = pytest.mark.timeout(60)

NOBODY = 65534


# -- impersonation -----------------------------------------------------------------------------

@pytest.fixture
def nobody_dir():
    """A directory owned by `nobody`, which `nobody` can reach (pytest's tmp_path is root-only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create another user's directory")
    parent = tempfile.mkdtemp(prefix="periscope-test-")
    os.chmod(parent, 0o755)
    directory = pathlib.Path(parent) / "theirs"
    directory.mkdir()
    os.chown(directory, NOBODY, NOBODY)
    yield directory
    shutil.rmtree(parent, ignore_errors=True)


def test_daemon_refuses_a_socket_directory_owned_by_another_user(nobody_dir):
    r = subprocess.run([PERISCOPED, "--socket", str(nobody_dir / "p.sock"), "--no-collectors"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert str(nobody_dir) in r.stderr and "65534" in r.stderr and "0755" in r.stderr, r.stderr
    assert not (nobody_dir / "p.sock").exists()


def test_daemon_refuses_a_socket_directory_writable_by_others(tmp_path):
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    r = subprocess.run([PERISCOPED, "--socket", str(directory / "p.sock"), "--no-collectors"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert str(directory) in r.stderr and "0777" in r.stderr, r.stderr


def test_daemon_accepts_its_own_private_directory(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir(mode=0o700)
    proc = start_daemon(str(directory / "p.sock"))
    assert run("status", "--socket", str(directory / "p.sock")).returncode == 0
    assert stop(proc) == 0


def test_clients_refuse_a_daemon_run_by_another_user(nobody_dir):
    fake = FakeDaemon(str(nobody_dir / "p.sock"), uid=NOBODY, status={"version": "6.6.6", "pid": 1})
    try:
        r = run("status", "--socket", fake.path)
        assert r.returncode == 69, (r.returncode, r.stdout, r.stderr)
        assert r.stdout == ""
        assert "65534" in r.stderr and fake.path in r.stderr, r.stderr
        r = subprocess.run([PERISCOPE, "rpc", "--socket", fake.path], input=b"", capture_output=True, timeout=20)
        assert r.returncode == 69, r.stderr

        sys.path.insert(0, str(REPO / "clients" / "python"))
        import periscope
        with pytest.raises(periscope.UntrustedDaemon, match="65534"):
            periscope.connect(fake.path, timeout=5)
    finally:
        fake.close()


# -- the socket file belongs to whoever has it now ---------------------------------------------

def test_stopping_leaves_a_successors_socket_alone(tmp_path):
    path = str(tmp_path / "p.sock")
    first = start_daemon(path)
    os.unlink(path)
    second = start_daemon(path)
    try:
        assert stop(first) == 0
        assert os.path.exists(path), "stopping the first daemon removed the second one's socket"
        r = run("status", "--socket", path, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["pid"] == second.pid, r.stderr
    finally:
        assert stop(second) == 0
    assert not os.path.exists(path), "a daemon still removes its own socket"


