"""Runs the client against a real periscoped (the same Daemon helper as Tests/integration)."""
import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))  # import the package from the source tree too
_spec = importlib.util.spec_from_file_location("periscope_daemon_fixture", HERE.parents[3] / "Tests" / "integration" / "conftest.py")
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)
Daemon = _fixture.Daemon


@pytest.fixture
def daemon():
    d = Daemon("--refresh-ms", "200", collectors=True)
    yield d
    assert d.stop() == 0


@pytest.fixture
def tcp_daemon():
    d = Daemon(tcp=True)
    yield d
    assert d.stop() == 0
