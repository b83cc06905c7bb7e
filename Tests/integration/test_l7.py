"""What flows on each edge (issue 14): the daemon's BPF programs classify protocols from the first bytes of each
message, pair requests with responses and count errors and latency — checked against real servers started here
(Python's http.server, nginx, OpenSSL, redis-server, PostgreSQL, MariaDB, dnsmasq) and real clients.

BPF is known to work on this machine kind (root, BTF, syscall tracepoints): when the programs do not load, every
test here FAILS with the daemon's reason — it never skips.
"""
import os
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import http.client

import pytest

from conftest import BIN, Daemon, free_port
from rpc import Client, wait_until
from test_transcripts import validator_for  # jsonschema is a test dependency: a missing one fails here


def check_schema(pointer, value):
    """Validates `value` against protocol/schema.json at `pointer` (e.g. /$defs/EdgeSummary)."""
    errors = list(validator_for(pointer).iter_errors(value))
    assert not errors, f"{pointer}: {errors[0].message} in {value}"

WAIT = 30.0
pytestmark = pytest.mark.timeout(240)  # the PostgreSQL cluster's initdb alone can take a minute on a loaded host

HTTP_SERVER = textwrap.dedent(r'''
    import sys, time, http.server
    delay = float(sys.argv[1])
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response (headers and body): with two, Nagle holds the body until the client's delayed
        # ACK (~40 ms) — a delay after the response started, which neither side's first bytes show.
        wbufsize = -1
        def do_GET(self):
            time.sleep(delay)
            code = 500 if self.path.startswith("/fail") else 200
            body = b"periscope"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(server.server_address[1], flush=True)
    server.serve_forever()
''')


METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def l7_daemon():
    d = Daemon("--refresh-ms", "500", "--l7", "--metrics", f"127.0.0.1:{METRICS_PORT}", collectors=True)
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()


@pytest.fixture(scope="module")
def rpc(l7_daemon):
    r = Client(l7_daemon)
    # BPF must load here: fail (never skip) with the daemon's reason when it does not.
    l7 = r.call("daemon/status")["collectors"]["l7"]
    assert l7["state"] == "ok" and l7["loaded"] is True, f"L7 BPF programs not loaded: {l7}"
    yield r
    r.close()


class Proc:
    """A server process started by a test, stopped (and reaped) at the end."""

    def __init__(self, args, **kw):
        self.p = subprocess.Popen(args, **kw)

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def node_of(rpc, pid):
    """The processes-view node of process `pid` (polls until it is there)."""
    def find():
        for n in rpc.view("processes", options={"all": True})["nodes"]:
            if n.get("metadata", {}).get("pid") == pid:
                return n
        return None
    return wait_until(find, timeout=WAIT, what=f"process {pid} in the processes view")


def l7_row(rpc, pid, protocol, side, done, what):
    """Polls `node/get` of process `pid` until its `l7` row for `protocol`/`side` satisfies `done`; returns it."""
    node_id = node_of(rpc, pid)["id"]
    last = {}

    def check():
        d = rpc.call("node/get", {"view": "processes", "id": node_id})
        rows = [r for r in d.get("l7", []) if r["protocol"] == protocol and r["side"] == side]
        last["rows"] = d.get("l7")
        if rows and done(rows[0]):
            check_schema("/$defs/NodeDetails", d)
            return rows[0]
        return None
    try:
        return wait_until(check, timeout=WAIT, interval=0.2, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: last l7 rows of {node_id}: {last.get('rows')}")


def start_http_server(delay):
    server = Proc([sys.executable, "-c", HTTP_SERVER, str(delay)], stdout=subprocess.PIPE, text=True)
    port = int(server.p.stdout.readline())
    return server, port


def test_status_reports_programs(rpc):
    status = rpc.call("daemon/status")
    check_schema("/methods/daemon~1status/result", status)
    l7 = status["collectors"]["l7"]
    assert l7["programs"] == 8, l7  # the exits of read, recvfrom, readv, recvmsg, write, sendto, writev, sendmsg
    assert "connections" in l7 and "runTimeNs" in l7, l7


def test_no_l7_leaves_the_programs_out():
    d = Daemon("--no-l7", collectors=True)
    try:
        r = Client(d)
        l7 = r.call("daemon/status")["collectors"]["l7"]
        r.close()
        assert l7["state"] == "disabled" and l7["loaded"] is False and "--l7" in l7["summary"], l7
    finally:
        assert d.stop() == 0, open(d.stderr_path).read()


def test_http_counts_errors_and_latency_match_the_client(rpc):
    n, m, delay = 200, 20, 0.02
    server, port = start_http_server(delay)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        times = []
        for i in range(n):
            path = "/fail" if i % (n // m) == 0 else "/ok"
            start = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            times.append(time.perf_counter() - start)
            assert r.status == (500 if path == "/fail" else 200)
        client_p50 = statistics.median(times) * 1000

        row = l7_row(rpc, server.pid, "http", "server", lambda r: r["requests"] >= n,
                     what=f"{n} HTTP requests on the server's row")
        assert abs(row["requests"] - n) <= n * 0.01, row
        assert abs(row["errors"] - m) <= max(1, m * 0.01), row
        # The server's latency (request read → response written) is within 10 % of what the client measured.
        assert row["latencyP50Ms"] == pytest.approx(client_p50, rel=0.10), (row, client_p50)

        # The edge from this process to the server carries the same figures while the connection is open.
        me = node_of(rpc, os.getpid())["id"]
        target = node_of(rpc, server.pid)["id"]

        def edge():
            for e in rpc.view("processes", options={"all": True})["edges"]:
                if e["source"] == me and e["target"] == target and e.get("l7", {}).get("requests", 0) >= n:
                    return e
            return None
        e = wait_until(edge, timeout=WAIT, interval=0.2, what="the edge's l7 figures")
        check_schema("/$defs/EdgeSummary", e)
        assert e["l7"]["protocol"] == "http", e
        assert abs(e["l7"]["requests"] - n) <= n * 0.01 and abs(e["l7"]["errors"] - m) <= max(1, m * 0.01), e
        assert e["l7"]["latencyP50Ms"] == pytest.approx(client_p50, rel=0.10), (e, client_p50)
        assert e["l7"]["errorsPerSecond"] >= 0 and e["l7"]["requestsPerSecond"] >= 0

        # Filters on the L7 figures.
        def ids(f):
            return {x["id"] for x in rpc.view("processes", options={"all": True}, filter=f)["nodes"]}
        assert target in ids("protocol:http")
        assert target in ids("errors>0")
        assert target in ids("latency>5")
        assert target not in ids("latency>100000")
        assert target not in ids("protocol:redis")
    finally:
        conn.close()
        server.stop()


def test_http_pipelined_and_keepalive(rpc):
    server, port = start_http_server(0)
    s = socket.create_connection(("127.0.0.1", port))
    try:
        # Five requests in one write (pipelined), then three one at a time on the same connection (keep-alive).
        s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)))
        got = b""
        while got.count(b"periscope") < 5:
            got += s.recv(65536)
        for i in range(3):
            s.sendall(b"GET /k%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            got = b""
            while b"periscope" not in got:
                got += s.recv(65536)
        row = l7_row(rpc, server.pid, "http", "server", lambda r: r["requests"] >= 8, what="8 HTTP requests")
        assert row["requests"] == 8 and row["errors"] == 0, row
        assert row["latencyP50Ms"] is not None, row
        # The shell client shows the table in the node's details and the protocol on the edge.
        node_id = node_of(rpc, server.pid)["id"]
        socket_path = rpc.daemon.socket_path
        out = subprocess.run([str(BIN / "periscope"), "node", "processes", node_id, "--socket", socket_path],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "what flows (L7):" in out.stdout, out
        assert any(l.split()[:2] == ["http", "server"] for l in out.stdout.splitlines()), out.stdout
        out = subprocess.run([str(BIN / "periscope"), "get", "processes", "--socket", socket_path],
                             capture_output=True, text=True, timeout=30)
        assert any(f"({server.pid})" in l and " http " in l for l in out.stdout.splitlines()), out.stdout
    finally:
        s.close()
        server.stop()


SEQUENTIAL_CLIENT = textwrap.dedent(r'''
    import http.client, sys, time
    port, n = int(sys.argv[1]), int(sys.argv[2])
    for i in range(n):  # a new connection per request: the same fd numbers come back, for new sockets
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", "/fail" if i % 4 == 0 else "/ok")
        c.getresponse().read()
        c.close()
    print("done", flush=True)
    sys.stdin.read()
''')


def test_http_connection_per_request_reusing_fds(rpc):
    n = 20
    server, port = start_http_server(0)
    client = Proc([sys.executable, "-c", SEQUENTIAL_CLIENT, str(port), str(n)], stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, text=True)
    try:
        assert client.p.stdout.readline().strip() == "done"
        served = l7_row(rpc, server.pid, "http", "server", lambda r: r["requests"] >= n, what="the server's row")
        sent = l7_row(rpc, client.pid, "http", "client", lambda r: r["requests"] >= n, what="the client's row")
        assert (served["requests"], served["errors"]) == (n, n // 4), served
        assert (sent["requests"], sent["errors"]) == (n, n // 4), sent
    finally:
        client.p.stdin.close()
        client.stop()
        server.stop()



SLOW_READER = textwrap.dedent(r"""
    import http.client, sys, time
    port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(n):  # each response is read 0.3 s after its request was sent
        c.request("GET", path)
        time.sleep(0.3)
        c.getresponse().read()
    print("done", flush=True)
    sys.stdin.read()
""")


def test_local_connection_counted_once_on_the_server_side(rpc):
    # Both ends on this host: the programs count the connection on the server's syscalls only, and the client's row
    # carries the server's figures — its latency leaves out the 0.3 s the client took to read each response.
    n = 6
    server, port = start_http_server(0)
    client = Proc([sys.executable, "-c", SLOW_READER, str(port), "/", str(n)], stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE, text=True)
    try:
        assert client.p.stdout.readline().strip() == "done"
        served = l7_row(rpc, server.pid, "http", "server", lambda r: r["requests"] >= n, what="the server's row")
        sent = l7_row(rpc, client.pid, "http", "client", lambda r: r["requests"] >= n, what="the client's row")
        assert (sent["requests"], sent["errors"]) == (served["requests"], served["errors"]) == (n, 0), (sent, served)
        # (Its own view would be at least 300 ms: from the exit of its write to the exit of its late read.)
        assert served["latencyP50Ms"] < 250 and sent["latencyP50Ms"] < 250, (sent, served)
    finally:
        client.p.stdin.close()
        client.stop()
        server.stop()
    # A server whose side is not traced (the daemon's own metrics endpoint: the programs skip the daemon): the
    # client counts the connection itself, and its latency includes its late reads.
    other = Proc([sys.executable, "-c", SLOW_READER, str(METRICS_PORT), "/metrics", str(n)], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, text=True)
    try:
        assert other.p.stdout.readline().strip() == "done"
        own = l7_row(rpc, other.pid, "http", "client", lambda r: r["requests"] >= n, what="the metrics client's row")
        assert own["requests"] == n and own["latencyP50Ms"] >= 250, own
    finally:
        other.p.stdin.close()
        other.stop()

def _nginx(tmp, port, extra=""):
    for d in ("tmp", "logs"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(textwrap.dedent(f"""
            daemon off; master_process off; user root; worker_processes 1;
            error_log stderr error; pid {tmp}/nginx.pid;
            events {{ worker_connections 256; }}
            http {{
                access_log off;
                client_body_temp_path {tmp}/tmp; proxy_temp_path {tmp}/tmp; fastcgi_temp_path {tmp}/tmp;
                uwsgi_temp_path {tmp}/tmp; scgi_temp_path {tmp}/tmp;
                server {{
                    listen 127.0.0.1:{port} {extra};
                    location / {{ return 200 "periscope\\n"; }}
                    location /fail {{ return 500; }}
                }}
            }}"""))
    server = Proc(["nginx", "-p", tmp, "-c", conf], stderr=subprocess.DEVNULL)
    wait_until(lambda: _connectable(port), timeout=10, what="nginx listening")
    return server


def _connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_http2_prior_knowledge_to_nginx(rpc):
    tmp = tempfile.mkdtemp(prefix="periscope-l7-nginx-")
    port = free_port()
    server = _nginx(tmp, port, "http2")
    try:
        # One connection per request (curl 7.88 fails to reuse a prior-knowledge connection).
        for path in ["/a0", "/a1", "/a2", "/a3", "/fail"]:
            out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                  "%{http_version} %{http_code}", f"http://127.0.0.1:{port}{path}"],
                                 capture_output=True, text=True, timeout=30)
            assert out.stdout == ("2 500" if path == "/fail" else "2 200"), out
        row = l7_row(rpc, server.pid, "http2", "server", lambda r: r["requests"] >= 5, what="5 HTTP/2 requests")
        assert row["requests"] == 5 and row["errors"] == 1, row
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_tls_sni_recorded(rpc):
    tmp = tempfile.mkdtemp(prefix="periscope-l7-tls-")
    key, cert = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=sni.periscope.test"], check=True, capture_output=True)
    port = free_port()
    server = Proc(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key, "-www", "-quiet"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _connectable(port), timeout=10, what="openssl s_server listening")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port))
        tls = ctx.wrap_socket(raw, server_hostname="sni.periscope.test")
        try:
            # This process sent the ClientHello: its row says TLS and the server name, and nothing decrypted.
            row = l7_row(rpc, os.getpid(), "tls", "client", lambda r: r.get("sni") == "sni.periscope.test",
                         what="the TLS row with the SNI")
            assert row["requests"] == 0, row
        finally:
            tls.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_redis_requests_and_error(rpc):
    port = free_port()
    server = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = None
    try:
        wait_until(lambda: _connectable(port), timeout=10, what="redis-server listening")
        s = socket.create_connection(("127.0.0.1", port))

        def command(*words):
            s.sendall(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
            return s.recv(65536)
        for _ in range(5):
            assert command(b"PING") == b"+PONG\r\n"
        assert command(b"SET", b"k", b"text") == b"+OK\r\n"
        assert command(b"INCR", b"k").startswith(b"-ERR")
        row = l7_row(rpc, server.pid, "redis", "server", lambda r: r["requests"] >= 7, what="7 Redis requests")
        assert row["requests"] == 7 and row["errors"] == 1, row
    finally:
        if s:
            s.close()
        server.stop()


def test_postgres_queries_and_failing_query(rpc):
    bindir = "/usr/lib/postgresql/15/bin"
    tmp = tempfile.mkdtemp(prefix="periscope-l7-pg-")
    os.chmod(tmp, 0o777)
    data = os.path.join(tmp, "data")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(tmp, "log"), "-o",
                            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c ssl=off", "start"],
                   check=True, capture_output=True, timeout=120)
    psql = None
    try:
        env = dict(os.environ, PGSSLMODE="disable")
        psql = subprocess.Popen(as_pg + ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-d", "postgres"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        psql.stdin.write("SELECT pg_backend_pid();\n")
        psql.stdin.flush()
        backend = int(psql.stdout.readline())
        psql.stdin.write("SELECT 1/0;\nSELECT 2;\n")
        psql.stdin.flush()
        assert psql.stdout.readline().strip() == "2"
        row = l7_row(rpc, backend, "postgres", "server", lambda r: r["requests"] >= 3, what="3 PostgreSQL queries")
        assert row["requests"] == 3 and row["errors"] == 1, row
    finally:
        if psql:
            psql.stdin.close()
            psql.wait(timeout=10)
        subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_mysql_queries_and_error_against_mariadb(rpc):
    tmp = tempfile.mkdtemp(prefix="periscope-l7-my-")
    data = os.path.join(tmp, "data")
    port = free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True,
                   timeout=120)
    server = Proc(["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root", f"--port={port}",
                   "--bind-address=127.0.0.1", f"--socket={tmp}/sock", "--skip-grant-tables", "--skip-log-bin",
                   "--innodb-buffer-pool-size=16M", f"--pid-file={tmp}/pid"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = None
    try:
        wait_until(lambda: _connectable(port), timeout=60, what="mariadbd listening")
        # The real client, in batch mode: one COM_QUERY per statement; --force goes on after the error.
        client = subprocess.Popen(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "root",
                                   "--skip-ssl", "--force", "--unbuffered", "-N", "-B"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client.stdin.write("SELECT 1;\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "1"
        client.stdin.write("SELECT * FROM nowhere.nothing;\nSELECT 2;\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "2"
        # mariadbd reads each packet's header and body apart; both sides count each query once.
        row = l7_row(rpc, server.pid, "mysql", "server", lambda r: r["requests"] >= 3, what="3 MySQL queries")
        assert row["requests"] == 3 and row["errors"] == 1, row
        row = l7_row(rpc, client.pid, "mysql", "client", lambda r: r["requests"] >= 3, what="the client's 3 queries")
        assert row["requests"] == 3 and row["errors"] == 1, row
    finally:
        if client:
            client.stdin.close()
            client.wait(timeout=10)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _dns_query(name, qid):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 1, 1)


def test_dns_over_udp_to_dnsmasq(rpc):
    address = "127.0.0.77"
    server = Proc(["dnsmasq", "--no-daemon", "--port=53", f"--listen-address={address}", "--bind-interfaces",
                   "--no-resolv", "--no-hosts", "--user=root", "--address=/known.periscope.test/10.1.2.3",
                   "--log-facility=-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        def answer(name, qid):
            s.sendto(_dns_query(name, qid), (address, 53))
            data, _ = s.recvfrom(4096)
            return data[3] & 0x0F
        wait_until(lambda: _try(lambda: answer("known.periscope.test", 1) == 0), timeout=10, what="dnsmasq answering")
        for i in range(3):
            assert answer("known.periscope.test", 10 + i) == 0
        for i in range(2):
            assert answer("unknown.invalid", 20 + i) != 0
        # 1 probe + 3 good + 2 failing queries.
        row = l7_row(rpc, server.pid, "dns", "server", lambda r: r["requests"] >= 6, what="6 DNS queries")
        assert row["requests"] == 6 and row["errors"] == 2, row
    finally:
        s.close()
        server.stop()


def _try(f):
    try:
        return f()
    except OSError:
        return False


def test_metrics_endpoint_passes_promtool(rpc):
    n = 30
    server, port = start_http_server(0)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        for i in range(n):
            conn.request("GET", "/fail" if i < 3 else "/ok")
            conn.getresponse().read()
        target = node_of(rpc, server.pid)["id"]
        want = f'target="{target}"'

        def scrape():
            c = http.client.HTTPConnection("127.0.0.1", METRICS_PORT, timeout=10)
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read().decode()
            c.close()
            assert r.status == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4"), r.status
            lines = [l for l in body.splitlines() if l.startswith("periscope_edge_l7_requests_total{") and want in l]
            return body if lines and float(lines[0].rsplit(" ", 1)[1]) >= n else None
        body = wait_until(scrape, timeout=WAIT, interval=0.3, what="the edge's request counter in /metrics")
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        def value(prefix):
            for l in body.splitlines():
                if l.startswith(prefix) and want in l:
                    return float(l.rsplit(" ", 1)[1])
            raise AssertionError(f"no {prefix} for {target} in\n{body[:3000]}")
        assert value("periscope_edge_l7_requests_total{") == n
        assert value("periscope_edge_l7_errors_total{") == 3
        assert value("periscope_edge_l7_request_duration_seconds_count{") == n
        assert value('periscope_edge_l7_request_duration_seconds_bucket{') <= n
        status = rpc.call("daemon/status")
        assert status["collectors"]["metrics"]["scrapes"] >= 1
        assert f"metrics:127.0.0.1:{METRICS_PORT}" in status["endpoints"]
    finally:
        conn.close()
        server.stop()
