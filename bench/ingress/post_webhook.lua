-- wrk script: POSTs a real signed webhook body with a delivery id unique across all wrk threads and
-- requests ("<run>-<thread>-<counter>"), so every request is a new delivery that must be stored.
-- Environment: BENCH_BODY (payload file), BENCH_SIGNATURE ("sha256=..."), BENCH_EVENT, BENCH_RUN.
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
  body = f:read("*a")
  f:close()
  signature = os.getenv("BENCH_SIGNATURE")
  event = os.getenv("BENCH_EVENT") or "issue_comment"
  run = os.getenv("BENCH_RUN") or "run"
  counter = 0
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Delivery"] = run .. "-" .. tid .. "-" .. counter,
    ["X-Hub-Signature-256"] = signature,
    ["User-Agent"] = "GitHub-Hookshot/bench",
  }
  return wrk.format("POST", "/webhook", headers, body)
end

-- Count answers by status so that a run with errors is visible.
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
