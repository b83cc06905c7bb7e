-- History (the daemon's SQLite log): `:Periscope diff 1h [VIEW]` lists what appeared and disappeared in a
-- view since then (`topology/diff`), scoped to the workspace like the panel (`workspace:ROOT` filter,
-- unless scope is 'all'), in a scratch buffer — one line per change, as `periscope diff` prints them.
local client = require('periscope.client')
local config = require('periscope.config')

local api = vim.api
local M = {}

local function label(node)
  local l = node.label or node.id or '?'
  if node.kind == 'process' and node.metadata and node.metadata.pid then
    return string.format('%s (%s)', l, tostring(node.metadata.pid))
  end
  return l
end

--- `HH:MM` of the daemon's RFC 3339 instant (UTC), in local time.
local function clock(text)
  local y, mo, d, h, mi, s = tostring(text):match('^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)')
  if not y then return tostring(text) end
  local utc = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s })
  local offset = os.time(os.date('*t', utc)) - os.time(os.date('!*t', utc))
  return os.date('%H:%M', utc + offset)
end

--- The lines for a `topology/diff` result: `+ edge a (1) → b (2):5432 (new since 14:02)`.
function M.lines(diff)
  local names = {}
  for _, group in ipairs({ 'added', 'removed', 'updated' }) do
    for _, n in ipairs((diff[group] or {}).nodes or {}) do names[n.id] = label(n) end
  end
  local since = clock(diff.from)
  local function edge(sign, e, note)
    local ports = {}
    for _, p in ipairs(e.ports or {}) do ports[#ports + 1] = tostring(p) end
    local target = (names[e.target] or e.target) .. (#ports > 0 and (':' .. table.concat(ports, ',')) or '')
    return string.format('%s edge %s → %s (%s)', sign, names[e.source] or e.source, target, note)
  end
  local out = {}
  for _, n in ipairs(diff.added.nodes) do out[#out + 1] = string.format('+ %s %s (new since %s)', n.kind, label(n), since) end
  for _, e in ipairs(diff.added.edges) do out[#out + 1] = edge('+', e, 'new since ' .. since) end
  for _, e in ipairs(diff.removed.edges) do out[#out + 1] = edge('-', e, 'gone since ' .. since) end
  for _, n in ipairs(diff.removed.nodes) do out[#out + 1] = string.format('- %s %s (gone since %s)', n.kind, label(n), since) end
  return out
end

--- Opens (or refreshes) the diff buffer for changes since `since` ('1h', '-10m', RFC 3339) in `view`.
function M.diff(since, view)
  since = (since and since ~= '') and since or '1h'
  view = view or config.options.view or 'processes'
  local params = { view = view, from = since }
  if config.options.scope ~= 'all' and view == 'processes' then
    params.filter = 'workspace:' .. require('periscope.scope').normalize(vim.fn.getcwd())
  end
  client.request('topology/diff', params, function(err, result)
    if err then
      if not err.disconnected then
        vim.notify('Periscope: ' .. tostring(err.message), vim.log.levels.ERROR)
      end
      return
    end
    local lines = M.lines(result)
    table.insert(lines, 1, string.format('%s since %s (%s → %s)%s', view, since, result.from, result.to,
      params.filter and ('  ' .. params.filter) or ''))
    if #lines == 1 then lines[2] = 'no changes' end
    local name = 'periscope://diff/' .. since
    local buf = vim.fn.bufnr(name)
    if buf == -1 then
      buf = api.nvim_create_buf(false, true)
      pcall(api.nvim_buf_set_name, buf, name)
      vim.bo[buf].bufhidden = 'wipe'
      vim.bo[buf].filetype = 'periscope-diff'
    end
    vim.bo[buf].modifiable = true
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
    if vim.fn.bufwinid(buf) == -1 then
      vim.cmd('botright split')
      api.nvim_win_set_buf(0, buf)
    end
  end)
end

return M
