-- One subscription's copy of a view: the `topology/subscribe` snapshot with every
-- `topology/changed` applied in order (on `reset`, the state is replaced by `added`).
local State = {}
State.__index = State

local function list(t, key)
  local v = type(t) == 'table' and t[key] or nil
  return type(v) == 'table' and v or {}
end

--- A state from a `topology/subscribe` result ({subscription, view, revision, nodes, edges}).
function State.new(snapshot)
  local s = setmetatable({ nodes = {}, edges = {}, view = snapshot.view, revision = snapshot.revision,
    gaps = 0, changes = 0 }, State)
  for _, n in ipairs(list(snapshot, 'nodes')) do s.nodes[n.id] = n end
  for _, e in ipairs(list(snapshot, 'edges')) do s.edges[e.id] = e end
  return s
end

--- Applies one `topology/changed` notification's params.
function State:apply(change)
  if change.reset then
    self.nodes, self.edges = {}, {}
  elseif change.previousRevision ~= nil and self.revision ~= nil and change.previousRevision ~= self.revision then
    -- Should not happen (the daemon numbers its notifications); counted so tests can check it.
    self.gaps = self.gaps + 1
  end
  for _, id in ipairs(list(change.removed, 'nodes')) do self.nodes[id] = nil end
  for _, id in ipairs(list(change.removed, 'edges')) do self.edges[id] = nil end
  for _, n in ipairs(list(change.added, 'nodes')) do self.nodes[n.id] = n end
  for _, n in ipairs(list(change.updated, 'nodes')) do self.nodes[n.id] = n end
  for _, e in ipairs(list(change.added, 'edges')) do self.edges[e.id] = e end
  for _, e in ipairs(list(change.updated, 'edges')) do self.edges[e.id] = e end
  if change.revision ~= nil then self.revision = change.revision end
  self.changes = self.changes + 1
end

function State:count()
  local n = 0
  for _ in pairs(self.nodes) do n = n + 1 end
  return n
end

return State
