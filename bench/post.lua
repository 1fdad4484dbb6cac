-- wrk script: POST /api with the session cookie and a small JSON body, as a browser would.
-- The cookie and body come from the environment (BENCH_COOKIE, BENCH_BODY); bench/run.py sets them.
-- With BENCH_COOKIES_FILE (one Cookie header value per line), each request carries the next cookie
-- of the file instead, the BENCH_THREADS wrk threads spread evenly over it: many users at once, each
-- cookie coming back only after all the others.
-- At the end it prints one machine-readable line, "BENCH_RESULT {json}", which bench/run.py parses.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"name":"app/bench","data":{"n":1}}'
wrk.headers["Content-Type"] = "application/json"
local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

local cookies = {}
local path = os.getenv("BENCH_COOKIES_FILE")
if path ~= nil and path ~= "" then
  for line in io.lines(path) do
    if line ~= "" then
      cookies[#cookies + 1] = line
    end
  end
end

if #cookies > 0 then
  local threads = 0
  local spacing = math.floor(#cookies / (tonumber(os.getenv("BENCH_THREADS")) or 1))
  function setup(thread)
    thread:set("position", threads * spacing)
    threads = threads + 1
  end

  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end

  function request()
    position = (position or 0) % #cookies + 1
    headers["Cookie"] = cookies[position]
    return wrk.format(nil, nil, headers, nil)
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)
  ))
end
