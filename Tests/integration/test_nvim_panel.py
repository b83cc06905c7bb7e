"""The Neovim plugin (clients/nvim) against a live daemon with its collectors.

Neovim 0.7 runs headless with a Lua harness (`-c "luafile …"`) that loads the plugin, `cd`s into a
temporary workspace and opens `:Periscope processes`. Every 50 ms the harness writes what it sees
(the panel's lines, floating windows, notifications) to a JSON file, and runs the commands the test
appends to a command file (`key …` feeds keys to the panel, `cursor TEXT` moves the cursor to the
first line starting with TEXT, `quit` closes the panel and quits). The test starts processes with
their working directory in the workspace and polls the JSON until the panel shows them.
"""
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import time

import pytest

from conftest import BIN, REPO

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed"),
]

PLUGIN = REPO / "clients" / "nvim"

HARNESS = r"""
local out_path, cmd_path = os.getenv('PSC_OUT'), os.getenv('PSC_CMD')
local notes, errors = {}, {}
vim.notify = function(msg, level) table.insert(notes, { msg = tostring(msg), level = level }) end
vim.cmd('runtime! plugin/periscope.lua')
require('periscope').setup{ cmd = { os.getenv('PSC_BIN'), 'rpc' }, socket = os.getenv('PSC_SOCKET') }
vim.cmd('cd ' .. vim.fn.fnameescape(os.getenv('PSC_WORKSPACE')))
vim.cmd('Periscope ' .. os.getenv('PSC_VIEW'))
local client = require('periscope.client')
local Panel = require('periscope.panel')
local panel = require('periscope').panel()
local panel_win = vim.api.nvim_get_current_win()
local done, finished, max_gaps = 0, false, 0

local function snapshot()
  local floats = {}
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    local cfg = vim.api.nvim_win_get_config(w)
    if cfg.relative ~= '' then
      table.insert(floats, { relative = cfg.relative,
        lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false) })
    end
  end
  local lines = {}
  if vim.api.nvim_buf_is_valid(panel.buf) then lines = vim.api.nvim_buf_get_lines(panel.buf, 0, -1, false) end
  for _, s in pairs(panel.subs or {}) do max_gaps = math.max(max_gaps, s.state.gaps) end
  local state = {
    lines = lines, floats = floats, notifications = notes, errors = errors, done = done,
    finished = finished, panels = vim.tbl_count(Panel.all()), client_running = client.running(),
    bridge_exit = client.last_exit_code, renders = panel.renders, gaps = max_gaps, errmsg = vim.v.errmsg,
  }
  local f = assert(io.open(out_path .. '.tmp', 'w'))
  f:write(vim.json.encode(state))
  f:close()
  assert(os.rename(out_path .. '.tmp', out_path))
end

local function run(cmd)
  local verb, arg = cmd:match('^(%S+)%s?(.*)$')
  if verb == 'key' then
    if vim.api.nvim_win_is_valid(panel_win) and vim.api.nvim_get_current_win() ~= panel_win
        and vim.api.nvim_win_get_config(0).relative == '' then
      vim.api.nvim_set_current_win(panel_win)
    end
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(arg, true, false, true), 'x', false)
  elseif verb == 'cursor' then
    vim.api.nvim_set_current_win(panel_win)
    for i, l in ipairs(vim.api.nvim_buf_get_lines(panel.buf, 0, -1, false)) do
      if l:sub(1, #arg) == arg then
        vim.api.nvim_win_set_cursor(panel_win, { i, 0 })
        break
      end
    end
  elseif verb == 'quit' then
    -- Close any float, then the panel with its own key; wait for the bridge to end.
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= '' then vim.api.nvim_win_close(w, true) end
    end
    vim.api.nvim_set_current_win(panel_win)
    vim.api.nvim_feedkeys('q', 'x', false)
    vim.wait(5000, function() return not client.running() and client.last_exit_code ~= nil end, 20)
    finished = true
  end
end

local ok, err = xpcall(function()
  local deadline = vim.loop.now() + 80000
  while not finished and vim.loop.now() < deadline do
    vim.wait(50, function() return false end, 10)
    local f = io.open(cmd_path, 'r')
    if f then
      local cmds = {}
      for line in f:lines() do if line ~= '' then table.insert(cmds, line) end end
      f:close()
      for i = done + 1, #cmds do
        run(cmds[i])
        done = i
      end
    end
    snapshot()
  end
end, debug.traceback)
if not ok then table.insert(errors, err) end
snapshot()
vim.cmd(ok and 'qa!' or 'cquit')
"""

# A process whose name (comm, the node's label) is argv[2]: `server` listens on 127.0.0.1 and prints
# its port; `client PORT` connects and holds the connection. Both wait for stdin to close.
PEER = r"""
import ctypes, socket, sys, threading
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[2].encode()), 0, 0, 0)
if sys.argv[1] == "server":
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    held = []
    threading.Thread(target=lambda: [held.append(srv.accept()) for _ in iter(int, 1)], daemon=True).start()
else:
    c = socket.create_connection(("127.0.0.1", int(sys.argv[3])))
    print("connected", flush=True)
sys.stdin.read()
"""


class Nvim:
    def __init__(self, tmp, socket_path, workspace, view="processes"):
        self.out = tmp / "nvim-state.json"
        self.cmd = tmp / "nvim-commands.txt"
        self.cmd.write_text("")
        harness = tmp / "harness.lua"
        harness.write_text(HARNESS)
        self.log = open(tmp / "nvim-output.log", "w+")
        env = dict(os.environ, PSC_OUT=str(self.out), PSC_CMD=str(self.cmd), PSC_BIN=str(BIN / "periscope"),
                   PSC_SOCKET=str(socket_path), PSC_WORKSPACE=str(workspace), PSC_VIEW=view,
                   XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"),
                   XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "config"))
        self.proc = subprocess.Popen(
            ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n",
             "--cmd", f"set rtp+={PLUGIN}", "-c", f"luafile {harness}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        self.commands = 0

    def state(self):
        try:
            return json.loads(self.out.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait(self, predicate, what, timeout=15):
        deadline = time.time() + timeout
        state = None
        while time.time() < deadline:
            state = self.state()
            if state is not None and predicate(state):
                return state
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{what}: not seen within {timeout}s; nvim rc={self.proc.poll()}; last state:\n"
                             + ("\n".join(state["lines"]) + "\n" + json.dumps({k: v for k, v in state.items() if k != "lines"}, indent=1)
                                if state else "none") + "\nnvim output:\n" + self.output())

    def send(self, command):
        with open(self.cmd, "a") as f:
            f.write(command + "\n")
        self.commands += 1
        n = self.commands
        return self.wait(lambda s: s["done"] >= n, f"command {command!r} run")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def quit(self):
        """Waits for nvim to exit (after the `quit` command) and returns its status."""
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("nvim did not quit:\n" + self.output())
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def spawn_peer(script, cwd, *args):
    p = subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line, f"peer {args} did not start"
    return p, line


def block_of(lines, head):
    """The lines of the node whose line starts with `head`: that line and its indented lines."""
    for i, line in enumerate(lines):
        if line.startswith(head):
            block = [line]
            for rest in lines[i + 1:]:
                if not rest.startswith("  "):
                    break
                block.append(rest)
            return block
    return []


def assert_clean(nvim, state):
    out = nvim.output()
    assert "stack traceback" not in out and "E5108" not in out and "E5113" not in out, out
    assert not state["errors"], state["errors"]
    assert state["errmsg"] == "", state["errmsg"]


@pytest.fixture
def peers(tmp_path):
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    started = []

    def start(cwd, *args):
        p, line = spawn_peer(script, cwd, *args)
        started.append(p)
        return line

    yield start
    for p in started:
        p.stdin.close()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def test_panel_shows_workspace_processes_and_connections_live(collector_daemon, tmp_path, peers):
    start = time.time()
    workspace = tmp_path / "workspace"
    elsewhere = tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    tag = secrets.token_hex(3)
    srv, cli = f"psw-srv-{tag}", f"psw-cli-{tag}"
    out_srv, out_cli = f"pso-srv-{tag}", f"pso-cli-{tag}"

    # A connected pair outside the workspace: workspace scope must not show it, all scope must.
    out_port = peers(elsewhere, "server", out_srv)
    peers(elsewhere, "client", out_cli, out_port)

    nvim = Nvim(tmp_path, collector_daemon.socket_path, workspace)
    try:
        state = nvim.wait(lambda s: len(s["lines"]) > 1 and " rev " in s["lines"][1], "the panel going live")
        assert state["lines"][0].startswith("Periscope · processes · scope: workspace"), state["lines"]

        # The test starts a server in the workspace: the panel lists it.
        port = peers(workspace, "server", srv)
        state = nvim.wait(lambda s: block_of(s["lines"], srv), "the workspace server in the panel")
        assert "pid " in block_of(state["lines"], srv)[0]

        # Then a client in the workspace connects to it: both ends show the connection.
        peers(workspace, "client", cli, port)
        out_line = f"  → {srv} (pid "
        state = nvim.wait(lambda s: any(l.startswith(out_line) and l.endswith(f":{port}")
                                        for l in block_of(s["lines"], cli)), "the new connection line")
        state = nvim.wait(lambda s: any(l.startswith(f"  ← {cli}") for l in block_of(s["lines"], srv)),
                          "the inbound connection line")
        text = "\n".join(state["lines"])
        assert out_srv not in text and out_cli not in text, text

        # `s`: all scope shows the pair outside the workspace too.
        nvim.send("key s")
        state = nvim.wait(lambda s: "scope: all" in s["lines"][0]
                          and any(l.startswith(f"  → {out_srv} (pid ") for l in block_of(s["lines"], out_cli)),
                          "the outside pair in all scope")
        assert block_of(state["lines"], srv), "the workspace server is connected, so all scope lists it too"

        # `f` with a bad filter: the daemon's -32602 message is shown, the panel keeps its subscription.
        nvim.send("key f<C-u>nosuchkey:1<CR>")
        state = nvim.wait(lambda s: any("unknown filter key" in n["msg"] for n in s["notifications"]),
                          "the daemon's filter error")
        note = next(n for n in state["notifications"] if "unknown filter key" in n["msg"])
        assert note["level"] == 4, note  # vim.log.levels.ERROR
        assert "filter: none" in state["lines"][1], state["lines"][:3]

        # A good filter (a word matches the label or command): only the workspace pair is left.
        nvim.send("key f<C-u>psw-<CR>")
        state = nvim.wait(lambda s: "filter: psw-" in s["lines"][1] and " rev " in s["lines"][1]
                          and block_of(s["lines"], cli), "the filtered panel")
        text = "\n".join(state["lines"])
        assert out_srv not in text and out_cli not in text, text

        # <CR> on the server's line: node/get in a float with the connection tables.
        nvim.send(f"cursor {srv}")
        nvim.send("key <CR>")
        state = nvim.wait(lambda s: any(any("inbound" in l for l in f["lines"]) for f in s["floats"]),
                          "the details float")
        float_text = "\n".join(next(f for f in state["floats"] if any("inbound" in l for l in f["lines"]))["lines"])
        assert float_text.startswith(srv), float_text
        assert "outbound" in float_text and "metadata" in float_text and "cwd" in float_text, float_text
        assert cli in float_text and f"127.0.0.1:{port}" in float_text, float_text
        assert state["gaps"] == 0, "notifications out of revision order"

        # `q`: the panel unsubscribes and the rpc bridge stops (no panel remains).
        nvim.send("quit")
        state = nvim.wait(lambda s: s["finished"], "quit")
        assert state["panels"] == 0 and not state["client_running"], state
        assert state["bridge_exit"] == 0, state
        assert nvim.quit() == 0, nvim.output()
        assert_clean(nvim, state)
    finally:
        nvim.kill()
    assert time.time() - start < 60


def test_daemon_not_running_is_a_clear_error(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    nvim = Nvim(tmp_path, tmp_path / "no-daemon" / "periscope.sock", workspace)
    try:
        state = nvim.wait(lambda s: s["notifications"], "an error notification")
        notes = state["notifications"]
        assert len(notes) == 1, notes
        assert notes[0]["level"] == 4, notes
        assert "daemon is not running" in notes[0]["msg"] and "periscoped" in notes[0]["msg"], notes
        assert str(tmp_path / "no-daemon" / "periscope.sock") in notes[0]["msg"], notes
        state = nvim.wait(lambda s: any(l.startswith("error: ") for l in s["lines"]), "the error in the panel")
        assert "disconnected" in state["lines"][1], state["lines"]
        assert state["bridge_exit"] == 69, state
        nvim.send("quit")
        state = nvim.wait(lambda s: s["finished"], "quit")
        assert nvim.quit() == 0, nvim.output()
        assert len(state["notifications"]) == 1, state["notifications"]
        assert_clean(nvim, state)
    finally:
        nvim.kill()
