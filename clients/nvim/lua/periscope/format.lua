-- Small text helpers shared by the panel and the details float.
local M = {}

function M.bytes(n)
  if type(n) ~= 'number' then return '-' end
  local units = { 'B', 'K', 'M', 'G', 'T' }
  local i = 1
  while math.abs(n) >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  if i == 1 then return string.format('%d%s', n, units[i]) end
  return string.format(n < 10 and '%.1f%s' or '%.0f%s', n, units[i])
end

function M.cpu(n)
  if type(n) ~= 'number' then return '-' end
  return string.format(n < 10 and '%.1f%%' or '%.0f%%', n)
end

function M.ports(ports)
  if type(ports) ~= 'table' or #ports == 0 then return '' end
  local out = {}
  for i, p in ipairs(ports) do
    if i > 4 then
      out[#out + 1] = '…'
      break
    end
    out[#out + 1] = tostring(p)
  end
  return ':' .. table.concat(out, ',')
end

--- A metadata value as one line of text.
function M.value(v)
  local t = type(v)
  if t == 'string' then return (v:gsub('[%c]', ' ')) end
  if t == 'number' then
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format('%d', v) end
    return tostring(v)
  end
  if t == 'boolean' then return tostring(v) end
  if t == 'table' then
    if vim.tbl_islist(v) then
      local parts = {}
      for _, x in ipairs(v) do parts[#parts + 1] = M.value(x) end
      return table.concat(parts, ', ')
    end
    -- An object (container labels, …): `key=value` pairs, sorted; an empty one is blank (it decodes to
    -- vim.empty_dict(), which vim.inspect would print as such).
    local keys = vim.tbl_keys(v)
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. M.value(v[k]) end
    return table.concat(parts, ', ')
  end
  if v == nil or v == vim.NIL then return '' end
  return tostring(v)
end

function M.truncate(s, width)
  if vim.fn.strdisplaywidth(s) <= width then return s end
  return vim.fn.strcharpart(s, 0, math.max(0, width - 1)) .. '…'
end

--- Rows (lists of strings) as aligned text lines, columns separated by two spaces.
function M.table(rows, indent)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  local lines = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      if i < #row then
        cells[#cells + 1] = cell .. string.rep(' ', widths[i] - vim.fn.strdisplaywidth(cell))
      else
        cells[#cells + 1] = cell
      end
    end
    lines[#lines + 1] = (indent or '') .. table.concat(cells, '  ')
  end
  return lines
end

return M
