-- Workspace scope, computed in the client for now (the daemon has no workspace filter yet):
-- the processes whose working directory or executable lies under the workspace root, plus the
-- nodes directly connected to them by an edge. In views that group processes (processes-by-name,
-- hosts, containers…) a node is in the workspace when it contains a workspace process: a group by its
-- `pids`, a host or container by being a workspace process's parent (`parents.host`, `parents.container`),
-- a container group by listing such a container.
local M = {}

--- The root as /proc reports paths: absolute, symlinks resolved, no trailing slash.
function M.normalize(dir)
  local real = vim.loop.fs_realpath(dir) or dir
  if #real > 1 then real = real:gsub('/+$', '') end
  return real
end

--- True when `path` is `root` or lies below it.
function M.under(path, root)
  if type(path) ~= 'string' or path == '' or root == nil then return false end
  if root == '/' then return path:sub(1, 1) == '/' end
  return path == root or path:sub(1, #root + 1) == root .. '/'
end

--- True for a process node that belongs to the workspace (never the plugin's own bridge).
function M.is_workspace_process(node, root)
  if node.kind ~= 'process' then return false end
  local m = node.metadata or {}
  if m.pid ~= nil and m.pid == require('periscope.client').bridge_pid() then return false end
  local exe = type(m.executable) == 'string' and m.executable:gsub(' %(deleted%)$', '') or nil
  return M.under(m.cwd, root) or M.under(exe, root)
end

--- Which nodes of `main` (a State) to show: id -> 'workspace' | 'peer'.
--- `procs` is a State of the `processes` view (all processes), needed for the other views.
function M.select(main, procs, root)
  local core = {}
  if main.view == 'processes' then
    for id, n in pairs(main.nodes) do
      if M.is_workspace_process(n, root) then core[id] = 'workspace' end
    end
  else
    local pids, hosts, containers = {}, {}, {}
    for _, n in pairs(procs and procs.nodes or {}) do
      if M.is_workspace_process(n, root) then
        local pid = (n.metadata or {}).pid
        if pid ~= nil then pids[pid] = true end
        for _, h in ipairs((n.parents or {}).host or {}) do hosts[h] = true end
        for _, c in ipairs((n.parents or {}).container or {}) do containers[c] = true end
      end
    end
    for id, n in pairs(main.nodes) do
      local hit = (hosts[id] and n.kind == 'host') or (containers[id] and n.kind == 'container')
      if not hit and n.kind == 'container-group' then
        for _, c in ipairs((n.metadata or {}).containers or {}) do
          if containers[c] then hit = true break end
        end
      end
      if not hit then
        for _, pid in ipairs((n.metadata or {}).pids or {}) do
          if pids[pid] then hit = true break end
        end
      end
      if hit then core[id] = 'workspace' end
    end
  end
  local shown = {}
  for id in pairs(core) do shown[id] = 'workspace' end
  for _, e in pairs(main.edges) do
    if core[e.source] and not core[e.target] and main.nodes[e.target] then shown[e.target] = 'peer' end
    if core[e.target] and not core[e.source] and main.nodes[e.source] then shown[e.source] = 'peer' end
  end
  return shown
end

return M
