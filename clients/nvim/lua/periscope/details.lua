-- A node's details (`node/get`) in a floating window: metadata, latest metrics, and the
-- inbound/outbound connection tables.
local client = require('periscope.client')
local fmt = require('periscope.format')

local api = vim.api
local M = {}

local function last(samples)
  if type(samples) == 'table' and #samples > 0 then return samples[#samples].value end
  return nil
end

local function endpoint(addr, port)
  if type(addr) ~= 'string' or addr == '' then return ':' .. fmt.value(port) end
  if addr:find(':', 1, true) then return '[' .. addr .. ']:' .. fmt.value(port) end
  return addr .. ':' .. fmt.value(port)
end

local function connection_rows(rows, inbound)
  local out = {
    inbound and { 'PEER', 'FROM', 'TO (LOCAL)', 'PROTO', 'STATE', 'SENT', 'RECV', 'RTT' }
      or { 'PEER', 'FROM (LOCAL)', 'TO', 'PROTO', 'STATE', 'SENT', 'RECV', 'RTT' },
  }
  for i, r in ipairs(rows) do
    if i > 200 then
      out[#out + 1] = { string.format('… %d more', #rows - 200) }
      break
    end
    local local_ep, remote_ep = endpoint(r.localAddress, r.localPort), endpoint(r.remoteAddress, r.remotePort)
    local state = r.state or ''
    if r.closed then state = state .. ' (closed)' end
    out[#out + 1] = {
      r.peerLabel or r.peer or '?',
      inbound and remote_ep or local_ep,
      inbound and local_ep or remote_ep,
      r.protocol or '',
      state,
      fmt.bytes(r.bytesSent),
      fmt.bytes(r.bytesReceived),
      r.rttMillis and string.format('%.2fms', r.rttMillis) or '-',
    }
  end
  return out
end

--- The float's lines for a node/get result.
function M.lines(d, width)
  local node = d.node or {}
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  local title = node.label or node.id or '?'
  if node.labelMinor and node.labelMinor ~= '' then title = title .. '  (' .. node.labelMinor .. ')' end
  add(title)
  add('id ' .. tostring(node.id) .. ' · ' .. tostring(node.kind) .. ' · view ' .. tostring(d.view))
  local metrics = d.metrics or {}
  local nm = node.metrics or {}
  local cpu = last(metrics.cpu) or nm.cpu
  local mem = last(metrics.memory) or nm.memory
  local parts = {}
  if cpu ~= nil then parts[#parts + 1] = 'cpu ' .. fmt.cpu(cpu) end
  if mem ~= nil then parts[#parts + 1] = 'mem ' .. fmt.bytes(mem) end
  if last(metrics.load1) then parts[#parts + 1] = string.format('load %.2f', last(metrics.load1)) end
  parts[#parts + 1] = string.format('connections in %d / out %d', nm.connectionsIn or 0, nm.connectionsOut or 0)
  add(table.concat(parts, ' · '))
  for _, side in ipairs({ 'inbound', 'outbound' }) do
    local conns = d[side] or {}
    add('')
    add(string.format('%s connections (%d)%s', side, #conns,
      side == 'inbound' and ' · this node is the server' or ' · this node is the client'))
    if #conns == 0 then
      add('  (none)')
    else
      for _, l in ipairs(fmt.table(connection_rows(conns, side == 'inbound'), '  ')) do add(l) end
    end
  end
  if type(d.l7) == 'table' and #d.l7 > 0 then
    -- What flows (issue 14): one row per application protocol and side.
    add('')
    add('what flows (L7)')
    local rows = { { 'PROTOCOL', 'SIDE', 'REQ/S', 'ERR/S', 'P50', 'P99', 'REQUESTS', 'ERRORS', 'SNI' } }
    for _, r in ipairs(d.l7) do
      rows[#rows + 1] = {
        r.protocol or '?', r.side or '', string.format('%.1f', r.requestsPerSecond or 0),
        string.format('%.1f', r.errorsPerSecond or 0),
        r.latencyP50Ms and string.format('%.2fms', r.latencyP50Ms) or '-',
        r.latencyP99Ms and string.format('%.2fms', r.latencyP99Ms) or '-',
        fmt.value(r.requests), fmt.value(r.errors), r.sni or '',
      }
    end
    for _, l in ipairs(fmt.table(rows, '  ')) do add(l) end
  end
  add('')
  add('metadata')
  local keys = vim.tbl_keys(d.metadata or {})
  table.sort(keys)
  local rows = {}
  for _, k in ipairs(keys) do
    local v = d.metadata[k]
    local t = (k:match('[Tt]ime$') or k == 'lastSeen') and tonumber(v)
    local text = t and t > 1e9 and os.date('%Y-%m-%d %H:%M:%S', math.floor(t)) or fmt.value(v)
    rows[#rows + 1] = { k, fmt.truncate(text, width) }
  end
  if #rows == 0 then add('  (none)') end
  for _, l in ipairs(fmt.table(rows, '  ')) do add(l) end
  if d.parents and #d.parents > 0 then
    local ps = {}
    for _, p in ipairs(d.parents) do ps[#ps + 1] = p.topology .. ' ' .. (p.label or p.id) end
    add('parents: ' .. table.concat(ps, ', '))
  end
  if d.children and #d.children > 0 then
    add('')
    add(string.format('children (%d)', #d.children))
    for i, c in ipairs(d.children) do
      if i > 50 then
        add('  …')
        break
      end
      add('  ' .. (c.label or c.id) .. '  ' .. (c.labelMinor or ''))
    end
  end
  return lines
end

--- Fetches node `id` of `view` and shows it in a float (q or <Esc> closes it).
function M.open(view, id)
  client.request('node/get', { view = view, id = id }, function(err, result)
    if err then
      if not err.disconnected then client.notify('node/get: ' .. tostring(err.message)) end
      return
    end
    M.show(result)
  end)
end

function M.show(result)
  local columns, rows = vim.o.columns, vim.o.lines
  local max_width = math.max(20, columns - 6)
  local lines = M.lines(result, math.max(20, max_width - 20))
  local width = 20
  for _, l in ipairs(lines) do width = math.max(width, vim.fn.strdisplaywidth(l)) end
  width = math.min(width + 1, max_width)
  local height = math.max(1, math.min(#lines, rows - 6))
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'periscope-details'
  local win = api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = math.max(0, math.floor((rows - height) / 2) - 1),
    col = math.max(0, math.floor((columns - width) / 2)),
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
  })
  api.nvim_win_set_option(win, 'wrap', false)
  api.nvim_buf_add_highlight(buf, -1, 'Title', 0, 0, -1)
  for i, l in ipairs(lines) do
    if l == 'metadata' or l:match('^inbound connections') or l:match('^outbound connections')
      or l:match('^children') then
      api.nvim_buf_add_highlight(buf, -1, 'Statement', i - 1, 0, -1)
    end
  end
  local function close()
    if api.nvim_win_is_valid(win) then api.nvim_win_close(win, true) end
  end
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, close, { buffer = buf, nowait = true, silent = true })
  end
  api.nvim_create_autocmd('WinLeave', { buffer = buf, once = true, callback = close })
  return win, buf
end

return M
