"""The history methods (topology/get at, topology/diff, node/history) against a live daemon with a real
SQLite log (SPEC.md section 18): a real connection comes and goes; the client sees it in the past, in the
diff (added, then removed as it was) and in the node's history; an instant before the log is an error."""
import datetime
import os
import time

import pytest

import periscope
from conftest import Daemon
from test_client import start_pair, wait_for


@pytest.fixture
def history_daemon(tmp_path):
    d = Daemon("--refresh-ms", "200", "--history", str(tmp_path / "history.db"), collectors=True)
    yield d
    assert d.stop() == 0


def test_get_at_diff_and_node_history(history_daemon):
    with periscope.connect(history_daemon.socket_path) as client:
        wait_for(lambda: client.status()["collectors"]["history"].get("commits", 0) > 0)
        before = datetime.datetime.now(datetime.timezone.utc)
        server, conn, child, port = start_pair()
        try:
            flt = f"port:{port}"
            me = f";{os.getpid()}"
            view = wait_for(lambda: (v := client.get("processes", filter=flt)) and
                            any(e.target.endswith(me) and not e.closed for e in v.edges.values()) and v)
            edge = next(e for e in view.edges.values() if e.target.endswith(me))
            existed = time.time()
            time.sleep(2.5)  # recorded (a query has the writer commit what it holds)

            # Until the log has that instant (a report every 200 ms; a query commits what is pending).
            past = wait_for(lambda: (v := client.get("processes", filter=flt, at=existed)) and edge.id in v.edges and v)
            assert past.at.startswith(periscope.client.instant(existed)[:19]) and past.revision == 0
            assert set(past.edges) == set(view.edges) and past.edges[edge.id].ports == [port]

            diff = client.diff("processes", since=before, to=existed, filter=flt)
            assert isinstance(diff, periscope.Diff) and [e.id for e in diff.added_edges] == [edge.id]
            assert edge.source in {n.id for n in diff.added_nodes}
            assert diff.removed_edges == [] and diff.removed_nodes == []

            history = client.history("processes", edge.source, since=before)
            assert history["id"] == edge.source and history["existed"], history
            assert any(p["id"] == edge.target and p["direction"] == "out" for p in history["peers"]), history["peers"]
        finally:
            child.kill()
            child.wait()
            conn.close()
            server.close()

        # Gone: from the instant it existed to now, the edge and its client are removed, as they were.
        wait_for(lambda: not client.get("processes", filter=flt).edges, timeout=40)
        gone = wait_for(lambda: (d := client.diff("processes", since=existed, filter=flt)) and d.removed_edges and d, timeout=20)
        assert [e.id for e in gone.removed_edges] == [edge.id] and gone.removed_edges[0].ports == [port]
        assert edge.source in {n.id for n in gone.removed_nodes} and gone.added_edges == []
        # Relative instants (a timedelta) work too; before the oldest history kept is an error, not an empty answer.
        asked = time.time() - 3
        at = client.get("processes", filter=flt, at=datetime.timedelta(seconds=3)).at
        assert abs(datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - asked) < 5, at
        with pytest.raises(periscope.RPCError) as error:
            client.get("processes", at=datetime.timedelta(days=30))
        assert error.value.code == -32004 and "before the oldest history kept" in error.value.message
