-- wrk script for benchmarks/serving.py: POSTs the JSON bodies of a file (one per line) in turn,
-- then prints one JSON line with the counts and latency percentiles.
-- usage: wrk ... -s serving_wrk.lua URL -- BODIES_FILE PATH [DELAY_MS]
-- DELAY_MS: pause of each connection before each request (to pace the load below the maximum).
-- SERVING_WRK_TOKEN (environment): an API token, sent as `Authorization: Bearer` when set.
local bodies = {}
local headers = {["Content-Type"] = "application/json"}
local next_body = 0
local path = "/"
local pause = 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  path = args[2]
  pause = tonumber(args[3] or "0")
  next_body = math.random(#bodies)
  local token = os.getenv("SERVING_WRK_TOKEN")
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
end

function delay()
  return pause
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, headers, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
