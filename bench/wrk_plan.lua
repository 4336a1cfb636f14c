-- Sends a bench plan with wrk (bench/wrk.py writes the plan file and starts wrk):
--   wrk ... -s bench/wrk_plan.lua URL -- METHOD PLAN_FILE TAG THREADS
-- One request per line of PLAN_FILE: "path<TAB>headers<TAB>body", headers "Name: value" joined
-- by \30, an empty body for none. Thread k of n sends items k, k+n, k+2n, ... (cycling), so no
-- two threads send the same item until the list wraps. "{seq}" in a body becomes a token unique
-- to the request. done() prints one JSON line that bench/wrk.py parses.

local threads = 0

function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end

function init(args)
  method, tag, step = args[1], args[3], tonumber(args[4])
  items, counter, position = {}, 0, index
  for line in io.lines(args[2]) do
    local path, block, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    for pair in block:gmatch("[^\30]+") do
      local name, value = pair:match("^([^:]+): ?(.*)$")
      headers[name] = value
    end
    if body == "" then body = nil end
    local item = {path = path, headers = headers, body = body}
    if body == nil or not body:find("{seq}", 1, true) then
      item.request = wrk.format(method, path, headers, body)
    end
    items[#items + 1] = item
  end
end

function request()
  local item = items[(position % #items) + 1]
  position = position + step
  if item.request then
    return item.request
  end
  counter = counter + 1
  local body = item.body:gsub("{seq}", tag .. "-" .. index .. "-" .. counter)
  return wrk.format(method, item.path, item.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
