-- wrk script: one form submission per request, each with a new email (the insert path).
-- API_KEY (required) and RUN_ID come from the environment (bench/run.py sets them).
local threads = {}
local next_id = 0
-- Varied people, as real sign-ups are: tens of thousands of identical "Ada Bench" leads would be
-- the newest rows of every list the later benchmarks read.
local first_names = {"Ada", "Grace", "Alan", "Mary", "James", "Priya", "Lukas", "Sofia", "Omar", "Yuki", "Chen", "Emma"}
local last_names = {"Lovelace", "Turing", "Smith", "Garcia", "Patel", "Schmidt", "Rossi", "Tanaka", "Nguyen", "Kowalski",
  "Dubois", "Silva", "Wright"}
local companies = {"Bench Co", "Globex Labs", "Initech Systems", "Umbrella Health", "Vertex Cloud", "Nimbus Analytics",
  "Orbit Media"}

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  api_key = os.getenv("API_KEY")
  run_id = os.getenv("RUN_ID") or tostring(os.time())
  counter = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
  }
end

function request()
  counter = counter + 1
  local n = counter + thread_id * 7
  local body = string.format(
    '{"form_name":"bench","email":"s%s-%d-%d@bench.example","first_name":"%s","last_name":"%s",' ..
    '"company":"%s","job_title":"CTO","country":"DE","company_size":50,"utm_source":"wrk",' ..
    '"utm_campaign":"load","consent":true,"page_url":"https://example.com/form","fields":{"n":%d}}',
    run_id, thread_id, counter, first_names[1 + n % #first_names], last_names[1 + n % #last_names],
    companies[1 + n % #companies], counter)
  return wrk.format("POST", "/api/v1/submissions/", headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT kind=submissions requests=%d seconds=%.1f req_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f " ..
    "max_ms=%.2f non_2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
