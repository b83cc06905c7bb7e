-- A side panel: a scratch buffer (filetype periscope) in a vertical split that shows one view,
-- kept current from `topology/changed`, rendered at most every `render_interval` ms.
local client = require('periscope.client')
local config = require('periscope.config')
local details = require('periscope.details')
local render = require('periscope.render')
local scope = require('periscope.scope')
local State = require('periscope.state')

local api = vim.api
local ns = api.nvim_create_namespace('periscope')

local Panel = {}
Panel.__index = Panel

-- buffer number -> panel
local panels = {}

local function now_ms()
  return vim.loop.hrtime() / 1e6
end

local function tbl_count(t)
  local n = 0
  for _ in pairs(t or {}) do n = n + 1 end
  return n
end

client.on_disconnect(function(reason)
  for _, p in pairs(panels) do
    p.subs = nil
    p.status = 'disconnected (r: reconnect)'
    p.error = reason
    p:render_now()
  end
end)

--- Every open panel, by buffer.
function Panel.all()
  return panels
end

--- The panel shown in the current tab page (current window first), or nil.
function Panel.current()
  local p = panels[api.nvim_get_current_buf()]
  if p then return p end
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    p = panels[api.nvim_win_get_buf(win)]
    if p then return p, win end
  end
  return nil
end

function Panel.open(view)
  local opts = config.options
  vim.cmd((opts.side == 'left' and 'topleft' or 'botright') .. ' vertical ' .. tonumber(opts.width) .. 'new')
  local win = api.nvim_get_current_win()
  local buf = api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].buflisted = false
  vim.bo[buf].modifiable = false
  pcall(api.nvim_buf_set_name, buf, 'periscope://panel/' .. buf)
  vim.bo[buf].filetype = 'periscope'
  for name, value in pairs({ number = false, relativenumber = false, wrap = false, list = false,
    winfixwidth = true, cursorline = true, signcolumn = 'no', foldcolumn = '0', spell = false }) do
    api.nvim_win_set_option(win, name, value)
  end
  local p = setmetatable({
    buf = buf,
    view = view or opts.view,
    scope = opts.scope,
    filter = nil,
    root = scope.normalize(vim.fn.getcwd()),
    status = 'connecting…',
    error = nil,
    subs = nil, -- {main = {id, state}, procs = {id, state}?} of the live subscriptions
    live = nil, -- the settings those subscriptions were made with
    gen = 0,
    ids = {},
    last_render = 0,
    renders = 0,
  }, Panel)
  panels[buf] = p
  p:map_keys()
  p.augroup = api.nvim_create_augroup('periscope_panel_' .. buf, { clear = true })
  api.nvim_create_autocmd('BufWipeout', {
    group = p.augroup, buffer = buf, callback = function() p:close(true) end,
  })
  api.nvim_create_autocmd('DirChanged', {
    group = p.augroup, callback = function()
      p.root = scope.normalize(vim.fn.getcwd())
      p:schedule_render()
    end,
  })
  p:render_now()
  p:subscribe()
  if config.is_container_view(p.view) then p:check_engine() end
  return p
end

function Panel:map_keys()
  local keys = config.options.keys
  local function map(key, fn, desc)
    if key then
      vim.keymap.set('n', key, fn, { buffer = self.buf, nowait = true, silent = true, desc = desc })
    end
  end
  map(keys.view, function() self:cycle_view() end, 'Periscope: next view')
  map(keys.scope, function() self:toggle_scope() end, 'Periscope: toggle workspace/all')
  map(keys.filter, function() self:prompt_filter() end, 'Periscope: daemon filter')
  map(keys.details, function() self:open_details() end, 'Periscope: node details')
  map(keys.refresh, function() self:refresh() end, 'Periscope: resubscribe')
  map(keys.close, function() self:close() end, 'Periscope: close')
end

--- The topology/subscribe requests for the current settings: the view, plus (workspace scope in a
--- grouped view) the processes view, which says which processes belong to the workspace.
function Panel:requests()
  local workspace = self.scope == 'workspace'
  local main = { view = self.view, minInterval = config.options.min_interval }
  if workspace and self.view ~= 'hosts' then
    -- Every process, so the workspace's programs show before they have a connection.
    main.options = { all = true }
  end
  if self.filter and self.filter ~= '' then main.filter = self.filter end
  local reqs = { main = main }
  if workspace and self.view ~= 'processes' then
    reqs.procs = { view = 'processes', options = { all = true }, minInterval = config.options.min_interval }
  end
  return reqs
end

local function unsubscribe(id)
  client.on_changed(id, nil)
  client.request_if_connected('topology/unsubscribe', { subscription = id })
end

--- Subscribes with the current settings. The live subscriptions stay until the new ones answer;
--- then they are replaced and unsubscribed. On failure on_fail(err) runs (to restore settings).
function Panel:subscribe(on_fail)
  self.gen = self.gen + 1
  local gen = self.gen
  local reqs = self:requests()
  local settings = { view = self.view, scope = self.scope, filter = self.filter }
  local waiting = tbl_count(reqs)
  local got, failed = {}, nil
  if self.subs then self.status = 'loading ' .. self.view .. '…' end
  self:schedule_render()
  for name, params in pairs(reqs) do
    client.request('topology/subscribe', params, function(err, result)
      waiting = waiting - 1
      if err then
        failed = failed or err
      else
        local st = State.new(result)
        got[name] = { id = result.subscription, state = st }
        client.on_changed(result.subscription, function(change)
          st:apply(change)
          local live = self.subs and self.subs[name]
          if live and live.state == st then self:schedule_render() end
        end)
      end
      if waiting > 0 then return end
      if failed or gen ~= self.gen or self.closed then
        for _, s in pairs(got) do unsubscribe(s.id) end
        if failed and gen == self.gen and not self.closed then self:failed(failed, on_fail) end
        return
      end
      local old = self.subs
      self.subs, self.live = got, settings
      self.status, self.error = 'live', nil
      for _, s in pairs(old or {}) do unsubscribe(s.id) end
      self:render_now()
    end)
  end
end

function Panel:failed(err, on_fail)
  if err.disconnected then
    -- The client already told the user why.
    self.subs = nil
    self.status = 'disconnected (r: reconnect)'
    self.error = err.message
  else
    local what = err.code == -32602 and 'rejected' or 'failed'
    client.notify('subscription ' .. what .. ': ' .. tostring(err.message))
    self.error = tostring(err.message)
    if on_fail then on_fail(err) end
    self.status = self.subs and 'live' or 'no subscription (r: retry)'
  end
  self:render_now()
end

function Panel:cycle_view()
  local views = config.views
  local prev = self.view
  local next_view = views[1]
  for i, v in ipairs(views) do
    if v == prev then next_view = views[i % #views + 1] end
  end
  self:set_view(next_view)
end

function Panel:set_view(view)
  local prev = self.view
  self.view = view
  self:subscribe(function() self.view = prev end)
  if config.is_container_view(view) then self:check_engine() end
end

--- Asks the daemon whether its container engine works (daemon/status), so an empty container view can
--- say why.
function Panel:check_engine()
  client.request('daemon/status', nil, function(err, result)
    if err or self.closed then return end
    local containers = ((result or {}).collectors or {}).containers or {}
    self.no_engine = containers.state ~= 'ok'
    self:schedule_render()
  end)
end

function Panel:toggle_scope()
  local prev = self.scope
  self.scope = prev == 'workspace' and 'all' or 'workspace'
  self:subscribe(function() self.scope = prev end)
end

function Panel:set_filter(text)
  local prev = self.filter
  if text ~= nil and vim.trim(text) == '' then text = nil end
  self.filter = text
  self:subscribe(function() self.filter = prev end)
end

function Panel:prompt_filter()
  vim.ui.input({ prompt = 'Periscope filter (empty: none): ', default = self.filter or '' }, function(text)
    if text == nil then return end
    self:set_filter(text)
  end)
end

--- Unsubscribes and subscribes again (state from a fresh snapshot; reconnects if needed).
function Panel:refresh()
  local old = self.subs
  self.subs = nil
  for _, s in pairs(old or {}) do unsubscribe(s.id) end
  self.status = 'loading ' .. self.view .. '…'
  self:subscribe()
end

--- The node id under the cursor (a node line: that node; a connection line: the peer).
function Panel:node_at_cursor()
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= self.buf then
    win = vim.fn.win_findbuf(self.buf)[1]
    if not win then return nil end
  end
  return self.ids[api.nvim_win_get_cursor(win)[1]]
end

function Panel:open_details(id)
  id = id or self:node_at_cursor()
  if not id then
    vim.notify('Periscope: no node on this line', vim.log.levels.INFO)
    return
  end
  details.open((self.live or self).view, id)
end

function Panel:schedule_render()
  if self.render_queued or self.closed then return end
  self.render_queued = true
  local wait = config.options.render_interval - (now_ms() - self.last_render)
  vim.defer_fn(function()
    self.render_queued = false
    self:render_now()
  end, math.max(0, math.floor(wait)))
end

function Panel:render_now()
  if self.closed or not api.nvim_buf_is_valid(self.buf) then return end
  self.last_render = now_ms()
  self.renders = self.renders + 1
  local live = self.live or self
  local subs = self.subs or {}
  local lines, ids, hl = render.render({
    view = live.view, scope = live.scope, filter = live.filter, root = self.root,
    status = self.status, error = self.error, no_engine = self.no_engine,
    main = subs.main and subs.main.state, procs = subs.procs and subs.procs.state,
  })
  -- Keep each window's cursor on the same line text (or node) across the redraw.
  local keep = {}
  for _, win in ipairs(vim.fn.win_findbuf(self.buf)) do
    local row = api.nvim_win_get_cursor(win)[1]
    keep[win] = { row = row, id = self.ids[row], text = (api.nvim_buf_get_lines(self.buf, row - 1, row, false) or {})[1] }
  end
  vim.bo[self.buf].modifiable = true
  api.nvim_buf_set_lines(self.buf, 0, -1, false, lines)
  vim.bo[self.buf].modifiable = false
  vim.bo[self.buf].modified = false
  api.nvim_buf_clear_namespace(self.buf, ns, 0, -1)
  for _, h in ipairs(hl) do
    api.nvim_buf_add_highlight(self.buf, ns, h[2], h[1], h[3], h[4])
  end
  self.ids = ids
  for win, k in pairs(keep) do
    local target
    if k.row > 1 and k.text then
      for i, l in ipairs(lines) do
        if l == k.text then
          target = i
          break
        end
      end
      if not target and k.id then
        for i = 1, #lines do
          if ids[i] == k.id then
            target = i
            break
          end
        end
      end
    end
    target = math.min(target or k.row, #lines)
    pcall(api.nvim_win_set_cursor, win, { math.max(1, target), 0 })
  end
end

--- Unsubscribes and wipes the panel; stops the connection when no panel remains.
function Panel:close(wiping)
  if self.closed then return end
  self.closed = true
  self.gen = self.gen + 1
  panels[self.buf] = nil
  for _, s in pairs(self.subs or {}) do unsubscribe(s.id) end
  self.subs = nil
  pcall(api.nvim_del_augroup_by_id, self.augroup)
  if not wiping and api.nvim_buf_is_valid(self.buf) then
    -- Keep the layout when the panel is the last window.
    local wins = vim.fn.win_findbuf(self.buf)
    if #wins > 0 and #api.nvim_list_wins() > #wins then
      for _, w in ipairs(wins) do pcall(api.nvim_win_close, w, true) end
    end
    pcall(api.nvim_buf_delete, self.buf, { force = true })
  end
  if next(panels) == nil then client.stop() end
end

return Panel
