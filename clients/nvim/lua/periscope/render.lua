-- The panel's text: a header, then each node (label, pid, cpu/mem) with its connections as
-- indented `→ target :ports` (outbound: the node is the client) and `← source` (inbound) lines.
local fmt = require('periscope.format')
local scope = require('periscope.scope')

local M = {}

local function node_line(n, role)
  local parts = { n.label or n.id }
  local m, x = n.metadata or {}, n.metrics or {}
  if n.kind == 'process' and m.pid ~= nil then
    parts[#parts + 1] = 'pid ' .. fmt.value(m.pid)
    if type(m.container) == 'string' then parts[#parts + 1] = 'in ' .. m.container end
  elseif n.kind == 'process-group' then
    parts[#parts + 1] = n.labelMinor or ''
  elseif n.labelMinor and n.labelMinor ~= '' then
    parts[#parts + 1] = '(' .. n.labelMinor .. ')'
  end
  if x.cpu ~= nil or x.memory ~= nil then
    parts[#parts + 1] = 'cpu ' .. fmt.cpu(x.cpu) .. ' mem ' .. fmt.bytes(x.memory)
  end
  if role == 'peer' then parts[#parts + 1] = '[peer]' end
  return table.concat(parts, '  ')
end

local function sort_key(n, role)
  local group = role == 'workspace' and 0 or (n.pseudo and 2 or 1)
  return group, (n.label or ''):lower(), n.id
end

local function before(a, b)
  local ga, la, ia = sort_key(a.node, a.role)
  local gb, lb, ib = sort_key(b.node, b.role)
  if ga ~= gb then return ga < gb end
  if la ~= lb then return la < lb end
  return ia < ib
end

--- Renders a panel. Returns lines, ids (line number -> node id, for <CR>), highlights
--- ({line0, group, col_start, col_end}).
--- p: {view, scope, filter, root, status, main = State|nil, procs = State|nil, no_engine = bool}
function M.render(p)
  local lines, ids, hl = {}, {}, {}
  local function add(text, group, id)
    lines[#lines + 1] = text
    if id then ids[#lines] = id end
    if group then hl[#hl + 1] = { #lines - 1, group, 0, -1 } end
  end
  local scope_text = p.scope == 'workspace' and ('workspace ' .. vim.fn.fnamemodify(p.root, ':~')) or 'all'
  add('Periscope · ' .. p.view .. ' · scope: ' .. scope_text, 'Title')
  local filter_text = (p.filter and p.filter ~= '') and p.filter or 'none'
  local main = p.main
  local shown
  local total = 0
  if main then
    total = main:count()
    if p.scope == 'workspace' then
      shown = scope.select(main, p.procs or main, p.root)
    else
      shown = {}
      for id in pairs(main.nodes) do shown[id] = 'all' end
    end
  end
  local entries = {}
  for id, role in pairs(shown or {}) do
    entries[#entries + 1] = { node = main.nodes[id], role = role }
  end
  table.sort(entries, before)
  local status = p.status or ''
  if main and status == 'live' then
    status = string.format('%d of %d nodes · rev %s', #entries, total, tostring(main.revision))
  end
  add('filter: ' .. filter_text .. ' · ' .. status, 'Comment')
  add('v view  s scope  f filter  <CR> details  r refresh  q close', 'Comment')
  if p.error then add('error: ' .. p.error, 'ErrorMsg') end
  add('')
  if main == nil then return lines, ids, hl end
  if #entries == 0 then
    if p.no_engine and require('periscope.config').is_container_view(p.view) then
      add('No container engine (see `periscope status`): container views are empty.', 'Comment')
    else
      add(p.scope == 'workspace' and 'No process of this workspace is running (s: show all).' or 'No nodes.', 'Comment')
    end
    return lines, ids, hl
  end
  -- Edges by endpoint.
  local out, inc = {}, {}
  for _, e in pairs(main.edges) do
    out[e.source] = out[e.source] or {}
    table.insert(out[e.source], e)
    inc[e.target] = inc[e.target] or {}
    table.insert(inc[e.target], e)
  end
  local function label_of(id)
    local n = main.nodes[id]
    if not n then return id end
    local pid = n.kind == 'process' and (n.metadata or {}).pid
    if pid then return (n.label or id) .. ' (pid ' .. fmt.value(pid) .. ')' end
    return n.label or id
  end
  local function edge_sort(field)
    return function(a, b)
      local la, lb = label_of(a[field]), label_of(b[field])
      if la ~= lb then return la < lb end
      return a.id < b.id
    end
  end
  for _, entry in ipairs(entries) do
    local n = entry.node
    lines[#lines + 1] = node_line(n, entry.role)
    ids[#lines] = n.id
    local label_end = #(n.label or n.id)
    hl[#hl + 1] = { #lines - 1, entry.role == 'peer' and 'Comment' or 'Identifier', 0, label_end }
    local edges = out[n.id] or {}
    table.sort(edges, edge_sort('target'))
    for _, e in ipairs(edges) do
      local ports = fmt.ports(e.ports)
      local text = '  → ' .. label_of(e.target) .. (ports ~= '' and (' ' .. ports) or '')
      if e.connections and e.connections > 1 then text = text .. ' ×' .. e.connections end
      if e.closed then text = text .. ' (closed)' end
      add(text, e.closed and 'Comment' or nil, e.target)
    end
    edges = inc[n.id] or {}
    table.sort(edges, edge_sort('source'))
    for _, e in ipairs(edges) do
      local text = '  ← ' .. label_of(e.source)
      if e.connections and e.connections > 1 then text = text .. ' ×' .. e.connections end
      if e.closed then text = text .. ' (closed)' end
      add(text, e.closed and 'Comment' or nil, e.source)
    end
  end
  return lines, ids, hl
end

return M
