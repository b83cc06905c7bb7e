"""The Python client against a live daemon: calls, views, subscriptions, reconnect, examples."""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

import periscope

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def start_pair():
    """A listening socket in this process and a child process connected to it. Returns (server, child pid, port)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c",
                              f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); time.sleep(30)"])
    conn, _ = server.accept()
    return server, conn, child, port


def wait_for(predicate, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_status_views_and_call(daemon):
    with periscope.connect(daemon.socket_path) as client:
        status = client.status()
        assert status["pid"] == daemon.proc.pid
        assert {v["name"] for v in client.views()} >= {"processes", "processes-by-name", "hosts"}
        assert client.call("daemon/ping") == {"pong": True}
        with pytest.raises(periscope.RPCError) as error:
            client.call("topology/get", {"view": "nope"})
        assert error.value.code == -32602


def test_get_returns_typed_view_with_the_connection(daemon):
    server, conn, child, port = start_pair()
    try:
        with periscope.connect(daemon.socket_path) as client:
            me = f";{os.getpid()}"
            view = wait_for(lambda: (v := client.get("processes", filter=f"port:{port}")) and
                            any(e.target.endswith(me) for e in v.edges.values()) and v)
            edge = next(e for e in view.edges.values() if e.target.endswith(me))
            assert isinstance(edge, periscope.Edge) and edge.ports == [port] and "tcp" in edge.protocols
            assert view.nodes[edge.source].metadata["pid"] == child.pid
            details = client.node("processes", edge.target)
            assert any(row["localPort"] == port for row in details["inbound"])
    finally:
        child.kill()
        conn.close()
        server.close()


def test_subscription_sees_a_new_connection_and_matches_get(daemon):
    with periscope.connect(daemon.socket_path) as client:
        sub = client.subscribe("processes", filter="name:python", min_interval=0)
        server, conn, child, port = start_pair()
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                change = sub.next(timeout=1)
                if change and any(e.ports == [port] for e in sub.topology.edges.values()):
                    break
            assert any(e.ports == [port] for e in sub.topology.edges.values())
            assert isinstance(change, periscope.Change) and change.revision > change.previous_revision
        finally:
            child.kill()
            conn.close()
            server.close()
        sub.unsubscribe()


def test_subscription_reconnects_with_a_reset(daemon, tmp_path):
    client = periscope.connect(daemon.socket_path)
    sub = client.subscribe("hosts", min_interval=0)
    before = set(sub.topology.nodes)
    # Restart the daemon on the same socket: the subscription must come back by itself.
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(timeout=10)
    replacement = subprocess.Popen([str(daemon.proc.args[0]), "--socket", daemon.socket_path, "--refresh-ms", "200",
                                    "--log-level", "error"])
    try:
        change = sub.next(timeout=15)
        while change is not None and not change.reset:
            change = sub.next(timeout=15)
        assert change is not None and change.reset
        assert set(sub.topology.nodes) == before
    finally:
        replacement.send_signal(signal.SIGTERM)
        replacement.wait(timeout=10)
        daemon.proc = replacement  # the fixture's stop() sees it has exited


def test_async_iteration(daemon):
    import asyncio

    async def first_change():
        with periscope.connect(daemon.socket_path) as client:
            sub = client.subscribe("processes", min_interval=0, all=True)
            subprocess.Popen(["sleep", "2"])
            async for change in sub:
                return change

    change = asyncio.run(asyncio.wait_for(first_change(), 15))
    assert change.revision > 0


def test_tcp_with_token(tcp_daemon):
    with periscope.connect(host="127.0.0.1", port=tcp_daemon.tcp_port, token=tcp_daemon.token) as client:
        assert client.call("daemon/ping") == {"pong": True}
    with pytest.raises((periscope.RPCError, EOFError, ConnectionError)):
        periscope.connect(host="127.0.0.1", port=tcp_daemon.tcp_port, token="wrong-token-0123456789")


def test_no_daemon_is_a_clear_error(tmp_path):
    with pytest.raises(periscope.DaemonNotRunning) as error:
        periscope.connect(str(tmp_path / "none.sock"))
    assert "no daemon is listening" in str(error.value)


def test_examples_run(daemon):
    env = dict(os.environ, PERISCOPE_SOCKET=daemon.socket_path,
               PYTHONPATH=str(EXAMPLES.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, str(EXAMPLES / "top_talkers.py"), "5"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    alert = subprocess.Popen([sys.executable, str(EXAMPLES / "internet_alert.py")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert alert.poll() is None, alert.stderr.read()  # subscribed and waiting for changes
    alert.terminate()
    alert.wait(timeout=10)
