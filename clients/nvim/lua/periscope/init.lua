-- Periscope for Neovim: a live side panel of the host's processes and connections, from the
-- shared periscoped daemon (reached by spawning `periscope rpc`).
--
--   require('periscope').setup{ cmd = {'periscope', 'rpc'}, socket = nil }
--   :Periscope [processes|processes-by-name|hosts]
--   :Periscope diff 1h [VIEW]   what appeared and disappeared since then (the daemon's history)
local config = require('periscope.config')

local M = {}

M.views = config.views

--- Options: cmd, socket, view, scope ('workspace'|'all'), width, side, render_interval,
--- min_interval, keys (see lua/periscope/config.lua).
function M.setup(opts)
  config.set(opts)
end

--- Opens a panel on `view` (default: the configured view), or focuses the current tab's panel and
--- switches it to `view`. Returns the panel.
function M.open(view)
  local Panel = require('periscope.panel')
  if view == '' then view = nil end
  local since = view and view:match('^diff%s*(.*)$')
  if since then
    -- :Periscope diff [SINCE [VIEW]]: the changes since then, from the daemon's history.
    local words = vim.split(since, '%s+', { trimempty = true })
    return require('periscope.history').diff(words[1], words[2])
  end
  local p, win = Panel.current()
  if p then
    if win then vim.api.nvim_set_current_win(win) end
    if view and view ~= p.view then p:set_view(view) end
    return p
  end
  return Panel.open(view)
end

--- The panel of the current tab page, if any.
function M.panel()
  return (require('periscope.panel').current())
end

--- Closes every panel (and so the connection).
function M.close_all()
  local Panel = require('periscope.panel')
  for _, p in pairs(vim.tbl_values(Panel.all())) do p:close() end
end

function M.complete(arglead)
  local words = vim.list_extend(vim.deepcopy(config.views), { 'diff' })
  return vim.tbl_filter(function(v) return v:sub(1, #arglead) == arglead end, words)
end

return M
