-- The one connection to the daemon shared by every panel: `periscope rpc` spawned through
-- vim.lsp.rpc.start (Content-Length framing, LSP lifecycle), requests queued until `initialize`
-- has answered, `topology/changed` notifications routed to subscription handlers by id.
local config = require('periscope.config')

local M = {}

local EX_UNAVAILABLE = 69 -- `periscope rpc`: no daemon on the socket

-- The live connection, or nil. Fields: rpc (vim.lsp.rpc object), ready, queue (calls waiting for
-- initialize), pending (request id -> callback, so they can be failed when the bridge dies),
-- stopping, server (initialize result).
local conn = nil
-- functions(reason) called when the connection ends (panels show it).
local listeners = {}

local function notify(msg, level)
  vim.schedule(function()
    vim.notify('Periscope: ' .. msg, level or vim.log.levels.ERROR)
  end)
end
M.notify = notify

local function socket_text()
  return config.options.socket or 'the default socket ($PERISCOPE_SOCKET, else $XDG_RUNTIME_DIR/periscope.sock)'
end

local function command()
  local cmd = vim.deepcopy(config.options.cmd)
  if type(cmd) == 'string' then cmd = { cmd } end
  local args = {}
  for i = 2, #cmd do args[#args + 1] = cmd[i] end
  if config.options.socket then
    args[#args + 1] = '--socket'
    args[#args + 1] = config.options.socket
  end
  return cmd[1], args
end

-- Ends the connection's bookkeeping: fails what is waiting, tells the panels.
local function finish(c, reason)
  if conn == c then conn = nil end
  c.handlers = {}
  local err = { code = -32099, message = reason, disconnected = true }
  local waiting = {}
  for _, item in ipairs(c.queue) do waiting[#waiting + 1] = item.callback end
  for _, cb in pairs(c.pending) do waiting[#waiting + 1] = cb end
  c.queue, c.pending = {}, {}
  for _, cb in ipairs(waiting) do pcall(cb, err, nil) end
  if not c.stopping then
    for _, fn in ipairs(listeners) do pcall(fn, reason) end
  end
end

local function send(c, method, params, callback)
  local ok, id
  ok, id = c.rpc.request(method, params, function(err, result)
    if c.pending[id] == nil then return end
    c.pending[id] = nil
    callback(err, result)
  end)
  if not ok then
    callback({ code = -32099, message = 'the connection to the daemon is closed', disconnected = true }, nil)
    return
  end
  c.pending[id] = callback
end

local function start()
  local exe, args = command()
  if exe == nil or vim.fn.executable(exe) ~= 1 then
    notify(string.format("cannot run '%s': set cmd in require('periscope').setup{} to the periscope binary",
      tostring(exe)))
    return nil
  end
  -- handlers: subscription id (per session) -> function(params) for topology/changed.
  local c = { ready = false, queue = {}, pending = {}, handlers = {}, stopping = false }
  local ok, rpc = pcall(vim.lsp.rpc.start, exe, args, {
    notification = function(method, params)
      if method == 'topology/changed' and type(params) == 'table' then
        local handler = c.handlers[params.subscription]
        if handler then handler(params) end
      end
    end,
    on_error = function(code, err)
      if c.stopping then return end
      local name = vim.lsp.rpc.client_errors[code] or tostring(code)
      notify('protocol error from the daemon connection: ' .. name .. ' ' .. vim.inspect(err), vim.log.levels.WARN)
    end,
    on_exit = function(code, signal)
      -- Called from a libuv callback: do the work on the main loop.
      vim.schedule(function()
        local reason
        if c.stopping then
          reason = 'stopped'
        elseif code == EX_UNAVAILABLE then
          reason = 'the daemon is not running (no periscoped on ' .. socket_text() .. ')'
          notify(reason .. '. Start it with `periscoped`, or set socket in require(\'periscope\').setup{}.')
        elseif code == 0 then
          reason = 'the daemon closed the connection (stopped or restarted)'
          notify(reason .. '; press r in the panel to reconnect.', vim.log.levels.WARN)
        else
          reason = string.format('the connection to the daemon ended (periscope rpc exited with code %d%s)',
            code, signal ~= 0 and (', signal ' .. signal) or '')
          notify(reason)
        end
        c.exit_code = code
        M.last_exit_code = code
        finish(c, reason)
      end)
    end,
  })
  if not ok or not rpc then
    notify('could not start ' .. exe .. (ok and '' or (': ' .. tostring(rpc))))
    return nil
  end
  c.rpc = rpc
  conn = c
  send(c, 'initialize', {
    processId = vim.loop.getpid(),
    clientInfo = { name = 'periscope.nvim', version = '0.1.0' },
    capabilities = vim.empty_dict(),
  }, function(err, result)
    if err then
      if not err.disconnected then
        notify('initialize failed: ' .. tostring(err.message))
        M.stop()
      end
      return
    end
    local major = tostring(result and result.protocolVersion or ''):match('^(%d+)%.')
    if major ~= '1' then
      notify('unsupported protocol version ' .. tostring(result and result.protocolVersion))
      M.stop()
      return
    end
    c.server = result
    c.ready = true
    c.rpc.notify('initialized', vim.empty_dict())
    local queue = c.queue
    c.queue = {}
    for _, item in ipairs(queue) do send(c, item.method, item.params, item.callback) end
  end)
  return c
end

--- Sends a request (starting the connection when needed); callback(err, result) runs on the main
--- loop. err.disconnected is set when the connection is gone (already reported to the user).
function M.request(method, params, callback)
  callback = callback or function() end
  local c = conn
  if c == nil or c.stopping then
    c = start()
    if c == nil then
      callback({ code = -32099, message = 'not connected', disconnected = true }, nil)
      return
    end
  end
  if c.ready then
    send(c, method, params, callback)
  else
    table.insert(c.queue, { method = method, params = params, callback = callback })
  end
end

--- Sends a request only if the connection is up (never starts one): for clean-up calls.
function M.request_if_connected(method, params, callback)
  callback = callback or function() end
  local c = conn
  if c == nil or c.stopping then return false end
  if c.ready then
    send(c, method, params, callback)
  else
    table.insert(c.queue, { method = method, params = params, callback = callback })
  end
  return true
end

--- Routes `topology/changed` for `id` to `fn` (nil removes it).
function M.on_changed(id, fn)
  if conn then conn.handlers[id] = fn end
end

--- Registers fn(reason), called whenever the connection ends.
function M.on_disconnect(fn)
  table.insert(listeners, fn)
end

--- The pid of the running bridge process (`periscope rpc`), if any.
function M.bridge_pid()
  return conn and conn.rpc and conn.rpc.pid
end

function M.running()
  return conn ~= nil
end

--- The initialize result of the live connection, if any.
function M.server()
  return conn and conn.server
end

--- Ends the session politely (shutdown, exit); kills the bridge if it does not go within a second.
function M.stop()
  local c = conn
  if c == nil or c.stopping then return end
  c.stopping = true
  conn = nil
  c.handlers = {}
  local function bye()
    pcall(c.rpc.notify, 'exit', nil)
  end
  if c.ready then
    local ok = c.rpc.request('shutdown', nil, function() bye() end)
    if not ok then bye() end
  else
    bye()
  end
  vim.defer_fn(function()
    if c.rpc.handle and not c.rpc.handle:is_closing() then
      pcall(c.rpc.handle.kill, c.rpc.handle, 15)
    end
  end, 1000)
end

return M
