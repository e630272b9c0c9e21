-- The load mix for bench/load.py: provider notifications, pay-page views and case-system API reads.
-- Requests are read from the file named by PAYRECON_LOAD_FILE: one per line, "kind<TAB>method<TAB>path
-- <TAB>headers<TAB>body", headers as name=value joined by the unit separator (0x1f). Each wrk thread
-- walks its own share; a kind whose list is used up starts again (notifications then repeat: duplicates).

local lists = {}
local weights = {}
local positions = {}
local counter = 0

local function split(text, sep)
  local out = {}
  for part in string.gmatch(text, "([^" .. sep .. "]*)") do table.insert(out, part) end
  return out
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local file = assert(io.open(os.getenv("PAYRECON_LOAD_FILE"), "r"))
  local threads = tonumber(os.getenv("PAYRECON_LOAD_THREADS") or "1")
  local n = 0
  for line in file:lines() do
    n = n + 1
    if n % threads == (id - 1) then
      local kind, method, path, headers, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local h = {}
      for _, pair in ipairs(split(headers, "\31")) do
        local k, v = pair:match("^([^=]+)=(.*)$")
        if k then h[k] = v end
      end
      lists[kind] = lists[kind] or {}
      table.insert(lists[kind], { method = method, path = path, headers = h, body = body })
    end
  end
  file:close()
  -- notify 40 %, page 40 %, api 20 %
  weights = { "notify", "notify", "page", "page", "api" }
  for kind, _ in pairs(lists) do positions[kind] = 0 end
  math.randomseed(id * 7919)
end

function request()
  local kind = weights[math.random(#weights)]
  local list = lists[kind]
  positions[kind] = positions[kind] % #list + 1
  local r = list[positions[kind]]
  if kind == "page" then
    -- Each view from its own address: the pay page's per-address limit is for borrowers, not for us.
    r.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  end
  return wrk.format(r.method, r.path, r.headers, r.body ~= "" and r.body or nil)
end
