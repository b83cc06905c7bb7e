-- Options of require('periscope').setup{}.
local M = {}

M.defaults = {
  -- The bridge to spawn: `periscope rpc` (stdin/stdout <-> the daemon's Unix socket).
  cmd = { 'periscope', 'rpc' },
  -- Daemon socket; nil lets `periscope rpc` find it ($PERISCOPE_SOCKET, $XDG_RUNTIME_DIR/periscope.sock…).
  socket = nil,
  -- View opened by a bare :Periscope.
  view = 'processes',
  -- 'workspace' (processes under the current directory and their direct peers) or 'all'.
  scope = 'workspace',
  -- Panel width in columns, and side ('right' or 'left').
  width = 60,
  side = 'right',
  -- Least time between two renders of a panel, milliseconds.
  render_interval = 100,
  -- minInterval asked of the daemon for topology/changed, milliseconds.
  min_interval = 200,
  -- Default key maps inside the panel (set a key to false to disable it).
  keys = {
    view = 'v', scope = 's', filter = 'f', details = '<CR>', refresh = 'r', close = 'q',
  },
}

M.views = {
  'processes', 'processes-by-name', 'hosts', 'containers', 'containers-by-image', 'containers-by-hostname',
}

--- True for the views that draw containers (empty when the daemon has no container engine).
function M.is_container_view(view)
  return type(view) == 'string' and view:sub(1, 10) == 'containers'
end

M.options = vim.deepcopy(M.defaults)

function M.set(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  -- `socket = nil` in the user's table cannot override through tbl_deep_extend; that is the default anyway.
  return M.options
end

return M
