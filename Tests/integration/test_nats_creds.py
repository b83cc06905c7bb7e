"""The report bus with NATS decentralized authentication (`--bus-creds`), and a refused login retried with backoff.

One `nats-server` with JetStream in operator mode: an operator, a system account and a JetStream-enabled account,
their JWTs preloaded in a memory resolver (made here by natsauth.py: Debian has no `nsc`). A publisher and an
aggregator connect with `.creds` files of users of that account and share the map. A third daemon's user is signed
by an account the server does not know: it is refused, says so in `daemon/status`, and tries again after waits
that double (1 s, 2 s, 4 s ...) — counted in the server's log — instead of every reconnect wait; once its
credentials file holds a user the server accepts, it connects without a restart. No status or log shows a seed
or a JWT. Then, on a server with a token: a connected daemon whose server comes back requiring another token is
refused the same way (the client gives the server up, the daemon tries again with doubling waits) and is back once
the server takes its token again. About 40 s.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

import natsauth
from conftest import free_port
from rpc import wait_until
from test_nats import TOKEN, WAIT, BusDaemon, check_schema

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nats-server") or not shutil.which("unshare"),
                       reason="the bus tests need root (UTS namespaces), unshare and nats-server (scripts/setup.sh --test)"),
]

# What a user of the bus needs: publish reports and JetStream API requests (and flow-control replies), receive
# replies and consumer deliveries on inboxes.
PUBLISH = ["periscope.report.>", "$JS.API.>", "$JS.FC.>"]
SUBSCRIBE = ["_INBOX.>"]


class Server:
    """A single nats-server with JetStream on loopback, configured by `body`; it can be restarted with another."""

    def __init__(self, work, body):
        self.work = work
        self.port, self.monitor = free_port(), free_port()
        self.log_path = os.path.join(work, "nats.log")
        self.proc = None
        self.start(body)

    def start(self, body):
        config = os.path.join(self.work, "nats.conf")
        with open(config, "w") as f:
            f.write(f"""listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.monitor}
server_name: nc0
jetstream {{ store_dir: "{self.work}/js" }}
{body}""")
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(["nats-server", "-c", config], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_until(self.ready, timeout=WAIT, what="nats-server ready")

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def refusals(self, name):
        """Logins of connection `name` the server refused so far (its log's authentication errors)."""
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if f'periscoped {name}"' in line and "authentication error" in line)

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)


class OperatorServer(Server):
    """The server in operator mode: one operator, a system account and a JetStream-enabled account, their JWTs
    preloaded (resolver: MEMORY)."""

    def __init__(self, work):
        self.operator = natsauth.NKey(natsauth.OPERATOR)
        self.system = natsauth.NKey(natsauth.ACCOUNT)
        self.account = natsauth.NKey(natsauth.ACCOUNT)
        # JetStream in operator mode needs a system account (2.9.10: "system account not setup" otherwise).
        super().__init__(work, f"""operator: {natsauth.operator_jwt(self.operator, self.system)}
system_account: {self.system.public}
resolver: MEMORY
resolver_preload: {{
  {self.system.public}: {natsauth.account_jwt(self.operator, self.system, "SYS", jetstream=False)}
  {self.account.public}: {natsauth.account_jwt(self.operator, self.account, "periscope")}
}}
""")

    def user_creds(self, name, account=None):
        """A `.creds` file for a new user signed by `account` (default: the server's account); returns its
        path and the secrets in it (JWT, seed)."""
        user = natsauth.NKey(natsauth.USER)
        token = natsauth.user_jwt(account or self.account, user, name, PUBLISH, SUBSCRIBE)
        path = os.path.join(self.work, f"{name}.creds")
        with open(path + ".new", "w") as f:  # replaced whole: a daemon may read it at any moment
            f.write(natsauth.creds(token, user))
        os.chmod(path + ".new", 0o600)
        os.replace(path + ".new", path)
        return path, (token, user.seed)

def daemon(server, work, host, creds, aggregate=False):
    return BusDaemon(work, host, server.url, aggregate=aggregate, token=False,
                     extra=["--bus-replicas", "1", "--bus-creds", creds])


def test_creds_share_the_map_and_a_refused_login_backs_off():
    work = tempfile.mkdtemp(prefix="periscope-nats-creds-")
    server = OperatorServer(work)
    daemons = []
    try:
        publisher_creds, publisher_secrets = server.user_creds("nc-p1")
        aggregator_creds, aggregator_secrets = server.user_creds("nc-a1")
        daemons.append(daemon(server, work, "nc-p1", publisher_creds))
        aggregator = daemon(server, work, "nc-a1", aggregator_creds, aggregate=True)
        daemons.append(aggregator)
        wait_until(lambda: {"nc-p1", "nc-a1"} <= aggregator.view_ids("hosts"), timeout=WAIT,
                   what="the publisher's host at the aggregator (both with --bus-creds)")
        health = aggregator.bus()
        check_schema("/$defs/BusHealth", health)
        assert health["state"] == "ok" and health["connection"] == "connected" and "refusals" not in health, health

        # A user signed by an account the server does not know: refused, and retried with doubling waits.
        stranger = natsauth.NKey(natsauth.ACCOUNT)
        intruder_creds, intruder_secrets = server.user_creds("nc-px", account=stranger)
        started = time.monotonic()
        intruder = daemon(server, work, "nc-px", intruder_creds)
        daemons.append(intruder)
        health = wait_until(lambda: (lambda h: h if "authorization" in h.get("lastError", "").lower() else None)(intruder.bus()),
                            timeout=WAIT, what="the refusal in the intruder's status")
        check_schema("/$defs/BusHealth", health)
        assert health["connection"] == "refused" and health["state"] == "degraded" and health["published"] == 0, health
        assert 0 <= health["retryInSeconds"] <= 60 and health["refusals"] >= 1, health
        assert "refused" in health["summary"], health
        # Over its first ~10 s: attempts at about 0, 1, 3 and 7 s (1 s doubling), not one per reconnect wait (500 ms).
        time.sleep(max(0.0, 10.5 - (time.monotonic() - started)))
        attempts = server.refusals("nc-px")
        health = intruder.bus()
        print(f"refused logins in the intruder's first {time.monotonic() - started:.1f} s: {attempts}; status {health['summary']}")
        assert 2 <= attempts <= 6, f"{attempts} refused logins in ~10 s"
        assert health["connection"] == "refused" and health["refusals"] >= 2, health
        assert "nc-px" not in aggregator.view_ids("hosts")
        # The local map is served meanwhile.
        assert "nc-px" in intruder.view_ids("hosts")

        # No secret in any status or log.
        secrets = [*publisher_secrets, *aggregator_secrets, *intruder_secrets]
        for d in daemons:
            status = json.dumps(d.client.call("daemon/status"))
            with open(d.stderr_path, errors="replace") as f:
                log = f.read()
            for secret in secrets:
                assert secret not in status and secret not in log, f"{d.host} shows a seed or JWT"
                assert secret.split(".")[-1] not in status  # not even a JWT's signature

        # Credentials fixed (a user of the server's account in the same file): the next attempt gets in, no restart.
        fixed_creds, _ = server.user_creds("nc-px")
        assert fixed_creds == intruder_creds
        wait_until(lambda: intruder.bus()["connection"] == "connected" and intruder.bus()["state"] == "ok", timeout=75,
                   what="the intruder connected with fixed credentials")
        wait_until(lambda: "nc-px" in aggregator.view_ids("hosts"), timeout=WAIT, what="the fixed host at the aggregator")
        health = intruder.bus()
        check_schema("/$defs/BusHealth", health)
        assert "retryInSeconds" not in health and "refusals" not in health and health["published"] >= 1, health
    finally:
        for d in daemons:
            d.stop(signal.SIGKILL)
        server.close()
        if os.environ.get("PERISCOPE_KEEP_TEST_DIRS"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def test_a_login_refused_after_a_server_restart_is_retried_until_accepted():
    """A connected daemon whose server comes back requiring another token: the client gives the server up after
    its refusals, the daemon logs in again with doubling waits, and once the server takes its token again it is
    back on the bus without a restart."""
    work = tempfile.mkdtemp(prefix="periscope-nats-token-")
    with open(os.path.join(work, "token"), "w") as f:  # BusDaemon's --bus-token-file
        f.write(TOKEN + "\n")
    server = Server(work, f'authorization {{ token: "{TOKEN}" }}\n')
    daemons = []
    try:
        d = BusDaemon(work, "nr-p1", f"nats://127.0.0.1:{server.port}", extra=["--bus-replicas", "1"])
        daemons.append(d)
        wait_until(lambda: d.bus()["state"] == "ok" and d.bus()["acknowledged"] >= 1, timeout=WAIT, what="nr-p1 on the bus")
        server.close()
        server.start('authorization { token: "another-token-the-daemon-does-not-have" }\n')
        health = wait_until(lambda: (lambda h: h if h["connection"] == "refused" else None)(d.bus()), timeout=WAIT,
                            what="the refusal after the restart")
        check_schema("/$defs/BusHealth", health)
        assert "authorization" in health["lastError"].lower() and health["state"] == "degraded", health
        refused_at = time.monotonic()
        before = server.refusals("nr-p1")
        time.sleep(8)
        attempts = server.refusals("nr-p1") - before
        print(f"refused logins in 8 s after the client gave up: {attempts}; {d.bus()['summary']}")
        assert attempts <= 5, f"{attempts} refused logins in 8 s"
        assert d.bus()["refusals"] >= 2
        assert "nr-p1" in d.view_ids("hosts")  # the local map is served meanwhile
        server.close()
        server.start(f'authorization {{ token: "{TOKEN}" }}\n')
        published = d.bus()["published"]
        wait_until(lambda: d.bus()["state"] == "ok" and d.bus()["published"] > published, timeout=75,
                   what="nr-p1 back on the bus once its token is accepted again")
        print(f"back on the bus {time.monotonic() - refused_at:.1f} s after the first refusal")
    finally:
        for each in daemons:
            each.stop(signal.SIGKILL)
        server.close()
        shutil.rmtree(work, ignore_errors=True)
