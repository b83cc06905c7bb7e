"""A real editor client nobody here wrote: Neovim's `vim.lsp.rpc` (Debian's neovim 0.7.2) spawns
`periscope rpc --socket P`, which bridges its stdin/stdout to the shared daemon, and completes
initialize → daemon/status → shutdown → exit.

Neovim 0.7 has no `-l`, so the Lua script runs with `nvim --headless -u NONE -c "luafile …"`; it writes
what it saw as JSON to a file, then quits (`qa!`, or `cquit` when the script itself failed).
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BIN

pytestmark = pytest.mark.timeout(60)

LUA = r"""
local out_path = os.getenv("PERISCOPE_TEST_OUT")
local results = { notifications = {}, errors = {}, steps = {} }

local function save()
  local f = assert(io.open(out_path, "w"))
  f:write(vim.json.encode(results))
  f:close()
end

local function main()
  results.nvim_version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor)
    .. "." .. tostring(vim.version().patch)
  local exited = false
  local rpc = vim.lsp.rpc.start(os.getenv("PERISCOPE_CLIENT"),
    { "rpc", "--socket", os.getenv("PERISCOPE_TEST_SOCKET") }, {
      notification = function(method, _params) table.insert(results.notifications, method) end,
      on_error = function(code, err)
        table.insert(results.errors, tostring(code) .. ": " .. vim.inspect(err))
      end,
      on_exit = function(code, signal)
        results.bridge_exit_code = code
        results.bridge_exit_signal = signal
        exited = true
      end,
    })
  assert(rpc, "vim.lsp.rpc.start failed")

  -- Sends a request and waits for its callback; returns err, result.
  local function call(method, params)
    local done, err, result = false, nil, nil
    local ok = rpc.request(method, params, function(e, r) err, result, done = e, r, true end)
    assert(ok, "could not send " .. method)
    assert(vim.wait(10000, function() return done end, 10), "no answer to " .. method)
    table.insert(results.steps, method)
    if err ~= nil then err = { code = err.code, message = err.message } end
    return err, result
  end

  local err, init = call("initialize", {
    processId = vim.loop.getpid(),
    clientInfo = { name = "Neovim", version = results.nvim_version },
    rootUri = vim.NIL,
    capabilities = vim.lsp.protocol.make_client_capabilities(),
  })
  results.initialize_error = err
  results.initialize = init
  rpc.notify("initialized", vim.empty_dict())

  err, results.status = call("daemon/status", nil)
  results.status_error = err

  err, results.ping = call("daemon/ping", { delayMs = 10 })
  results.ping_error = err

  local shutdown_result
  err, shutdown_result = call("shutdown", nil)
  results.shutdown_error = err
  -- vim.lsp.rpc decodes with luanil.object, so a null result arrives as nil.
  results.shutdown_is_null = (shutdown_result == nil or shutdown_result == vim.NIL)

  rpc.notify("exit", nil)
  -- The daemon closes the connection after exit; `periscope rpc` then ends by itself.
  results.bridge_exited = vim.wait(10000, function() return exited end, 10)
end

local ok, failure = pcall(main)
if not ok then results.lua_error = tostring(failure) end
save()
if ok then vim.cmd("qa!") else vim.cmd("cquit") end
"""


def find_nvim():
    nvim = shutil.which("nvim")
    if nvim:
        return nvim
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "neovim"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)
    return shutil.which("nvim")


def test_neovim_vim_lsp_rpc_through_periscope_rpc(daemon, tmp_path):
    nvim = find_nvim()
    if not nvim:
        pytest.skip("nvim not found and could not be installed (apt-get install -y neovim)")
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    script = tmp_path / "periscope_test.lua"
    script.write_text(LUA)
    out = tmp_path / "result.json"
    env = dict(os.environ,
               PERISCOPE_TEST_OUT=str(out),
               PERISCOPE_CLIENT=str(BIN / "periscope"),
               PERISCOPE_TEST_SOCKET=daemon.socket_path,
               PERISCOPE_SOCKET="/nonexistent/not-this-one.sock",  # --socket must win
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path),
               XDG_STATE_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))
    proc = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n",
                           "-c", f"luafile {script}"],
                          env=env, capture_output=True, text=True, timeout=45, stdin=subprocess.DEVNULL)
    assert out.exists(), f"{version}: the script wrote no result; rc={proc.returncode} stderr={proc.stderr}"
    results = json.loads(out.read_text())
    assert "lua_error" not in results, results["lua_error"]
    assert proc.returncode == 0, (proc.returncode, proc.stderr)

    assert results["steps"] == ["initialize", "daemon/status", "daemon/ping", "shutdown"]
    assert results.get("initialize_error") is None, results
    assert results["initialize"]["serverInfo"]["name"] == "periscoped"
    assert results["initialize"]["protocolVersion"]

    assert results.get("status_error") is None, results
    status = results["status"]
    assert status["version"] == results["initialize"]["serverInfo"]["version"]
    assert status["pid"] == daemon.proc.pid
    assert status["clients"]["connected"] >= 1
    assert status["clients"]["byTransport"]["unix"] >= 1

    assert results.get("ping_error") is None and results["ping"] == {"pong": True}, results
    assert results.get("shutdown_error") is None and results["shutdown_is_null"], results
    assert results["bridge_exited"], "periscope rpc did not end after exit"
    assert results["bridge_exit_code"] == 0, results
    assert results["errors"] == [], results["errors"]

    # The daemon is still serving others, and Neovim's session is gone.
    s = daemon.connect()
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
    s.settimeout(5)
    line = s.makefile("rb").readline()
    s.close()
    after = json.loads(line)["result"]
    assert after["clients"]["connected"] == 1, after
