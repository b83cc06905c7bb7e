"""The `periscope` shell client against a real daemon, and without one."""
import json
import os
import re
import subprocess

import pytest

from conftest import BIN

pytestmark = pytest.mark.timeout(60)

PERISCOPE = str(BIN / "periscope")


def run(*args, env=None):
    return subprocess.run([PERISCOPE, *args], capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL, env=env)


def test_status_prints_version_line(daemon):
    r = run("status", "--socket", daemon.socket_path)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert re.match(r"periscoped \d+\.\d+\.\d+ \(protocol \d+\.\d+\), pid %d, up " % daemon.proc.pid, first), r.stdout
    assert f"unix:{daemon.socket_path}" in r.stdout


def test_status_json(daemon):
    r = run("status", "--socket", daemon.socket_path, "--json")
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["pid"] == daemon.proc.pid
    assert status["clients"]["connected"] >= 1


def test_status_uses_periscope_socket_env(daemon):
    env = dict(os.environ, PERISCOPE_SOCKET=daemon.socket_path)
    r = run("status", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("periscoped ")


def test_call_ping_prints_json(daemon):
    r = run("call", "--socket", daemon.socket_path, "daemon/ping")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"pong": True}
    r = run("call", "--socket", daemon.socket_path, "daemon/ping", '{"delayMs": 10}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"pong": True}


def test_call_unknown_method_exits_one_with_error_on_stderr(daemon):
    r = run("call", "--socket", daemon.socket_path, "no/such")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "-32601" in r.stderr and "no/such" in r.stderr, r.stderr


def test_call_bad_params_exits_one(daemon):
    r = run("call", "--socket", daemon.socket_path, "daemon/ping", '{"delayMs": "soon"}')
    assert r.returncode == 1
    assert "-32602" in r.stderr and "delayMs" in r.stderr, r.stderr


def test_call_params_not_json_is_a_usage_error(daemon):
    r = run("call", "--socket", daemon.socket_path, "daemon/ping", "{not json")
    assert r.returncode not in (0, 1, 69)
    assert "JSON" in r.stderr


@pytest.mark.parametrize("argv", [["status"], ["call", "daemon/ping"], ["rpc"]])
def test_no_daemon_exits_69(argv, tmp_path):
    missing = str(tmp_path / "nonexistent.sock")
    for path in (missing, "/nonexistent"):
        r = run(argv[0], "--socket", path, *argv[1:])
        assert r.returncode == 69, (r.returncode, r.stderr)
        assert "no daemon is listening" in r.stderr, r.stderr
        assert path in r.stderr
        assert r.stdout == ""


def test_no_daemon_stale_socket_file_exits_69(tmp_path):
    import socket
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens
    r = run("status", "--socket", path)
    assert r.returncode == 69, (r.returncode, r.stderr)
    assert "no daemon is listening" in r.stderr


def test_rpc_bridges_bytes(daemon):
    """`periscope rpc` passes both framings through unchanged and ends when the daemon closes."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"daemon/ping"}'
    framed = (b"Content-Length: %d\r\n\r\n" % len(body) + body
              + b'Content-Length: 33\r\n\r\n{"jsonrpc":"2.0","method":"exit"}')
    init = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}'
    stdin = b"Content-Length: %d\r\n\r\n" % len(init) + init + framed
    r = subprocess.run([PERISCOPE, "rpc", "--socket", daemon.socket_path], input=stdin,
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    frames = r.stdout.split(b"Content-Length: ")[1:]
    assert len(frames) == 2, r.stdout
    assert json.loads(frames[1].split(b"\r\n\r\n", 1)[1]) == {"jsonrpc": "2.0", "id": 1, "result": {"pong": True}}

    lines = b'{"jsonrpc":"2.0","id":"a","method":"daemon/ping"}\n'
    r = subprocess.run([PERISCOPE, "rpc", "--socket", daemon.socket_path], input=lines,
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"jsonrpc": "2.0", "id": "a", "result": {"pong": True}}


def test_global_options_before_the_subcommand_and_views_in_help(daemon):
    """Issue 12: `periscope --socket X status` works (global options before or after the subcommand), and the
    help lists all six views."""
    r = run("--socket", daemon.socket_path, "status")
    assert r.returncode == 0 and r.stdout.startswith("periscoped "), r.stderr
    r = run(f"--socket={daemon.socket_path}", "--json", "status")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == daemon.proc.pid
    names = ["processes", "processes-by-name", "hosts", "containers", "containers-by-image", "containers-by-hostname"]
    for args in (["--help"], ["get", "--help"]):
        text = " ".join(run(*args).stdout.split())
        for view in names:
            assert view in text, (args, view, text)
