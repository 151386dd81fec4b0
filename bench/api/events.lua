-- wrk script: batches of 1,000 engagement events per request.
-- Leads are named by email from a pool of 20,000 (new ones are created on first sight), event
-- types vary, every event has a unique external id (so all are accepted, none is a duplicate).
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

local types = {"page_view", "email_open", "email_click", "pricing_page_view", "feature_used", "content_download"}

function init(args)
  api_key = os.getenv("API_KEY")
  run_id = os.getenv("RUN_ID") or tostring(os.time())
  batch = tonumber(os.getenv("BATCH") or "1000")
  counter = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
  }
  math.randomseed(os.time() + thread_id)
end

function request()
  counter = counter + 1
  local items = {}
  for i = 1, batch do
    items[i] = string.format(
      '{"email":"e%d@bench.example","event_type":"%s","occurred_at":"2026-01-%02dT10:%02d:00Z",' ..
      '"properties":{"path":"/docs/%d","n":%d},"external_id":"%s-%d-%d-%d","source":"wrk"}',
      math.random(0, 19999), types[(i % #types) + 1], (i % 28) + 1, i % 60, i % 50, i,
      run_id, thread_id, counter, i)
  end
  local body = '{"events":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/api/v1/events/", headers, body)
end

function done(summary, latency, requests)
  -- done() runs in the main Lua state, where init() never ran.
  local size = tonumber(os.getenv("BATCH") or "1000")
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT kind=event_batches batch=%d requests=%d seconds=%.1f events_per_s=%.0f p50_ms=%.1f p99_ms=%.1f " ..
    "non_2xx=%d connect_errors=%d read_errors=%d timeouts=%d\n",
    size, summary.requests, seconds, summary.requests * size / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect, e.read, e.timeout))
end
