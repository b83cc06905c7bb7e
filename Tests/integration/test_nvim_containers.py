"""The Neovim panel's container views (issue 12): they are in its `v` cycle, and on a daemon without a
container engine an empty container view says so instead of "No process of this workspace is running".
Neovim runs headless with the harness of test_nvim_panel.py against a real daemon."""
import shutil

import pytest

from conftest import Daemon
from test_nvim_panel import Nvim, assert_clean

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed"),
]


def test_container_views_in_the_cycle_and_no_engine_explained(tmp_path):
    daemon = Daemon("--docker-socket", str(tmp_path / "no-engine.sock"), collectors=True)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    nvim = Nvim(tmp_path, daemon.socket_path, workspace, view="hosts")
    try:
        nvim.wait(lambda s: s["lines"] and s["lines"][0].startswith("Periscope · hosts"), "the hosts panel")
        for view in ("containers", "containers-by-image", "containers-by-hostname"):
            nvim.send("key v")
            state = nvim.wait(lambda s: s["lines"][0].startswith(f"Periscope · {view} ")
                              and any("No container engine (see `periscope status`)" in l for l in s["lines"]),
                              f"{view}: the missing engine explained")
            assert not any("No process of this workspace" in l for l in state["lines"]), state["lines"]
        nvim.send("key v")
        nvim.wait(lambda s: s["lines"][0].startswith("Periscope · processes "), "the cycle back to processes")
        nvim.send("quit")
        state = nvim.wait(lambda s: s["finished"], "quit")
        assert nvim.quit() == 0, nvim.output()
        assert_clean(nvim, state)
    finally:
        nvim.kill()
        assert daemon.stop() == 0
