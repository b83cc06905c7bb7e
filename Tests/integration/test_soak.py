"""The soak of issue 10, short: bench/soak.py with 60 s of load instead of 10 minutes, same criteria.

One daemon (collectors on, --refresh-ms 100, Unix socket and TCP with a token) under every hostile
actor of the soak at once while a well-behaved client pings it every 50 ms from its own process. It
must not crash (it answers at the end and exits 0 on SIGTERM), keep the well-behaved client's ping p99
under 100 ms with no ping lost (and its topology/get p99 under 1 s), and come back within 10 % of its
RSS baseline (taken after a 10 s primer of every actor and 15 s of quiet) after the load. About 2 min
(10 s warm-up, 10 s primer + 15 s, 60 s load, 15 s settle). The
binary comes from PERISCOPE_BIN like every other test (.build/debug by default); the long run is
`make soak` (release build). The failure message names each criterion that failed and the phase.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import soak  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def test_short_soak():
    config = soak.Config(duration=60, warmup=10, primer=10, settle=15)
    result = soak.run(config)
    print("\n" + soak.render(result))
    assert not result["failures"], "soak failed:\n" + "\n".join(result["failures"])
