-- wrk script for bench/overhead.sh: POST one chat-completions body and, at the end,
-- print one JSON line with throughput, errors and latency percentiles (microseconds),
-- which overhead.sh turns into the markdown table.
--   wrk -t1 -c16 -d10s -s bench/wrk_post.lua http://127.0.0.1:18180/v1/chat/completions
-- BENCH_STREAM=1 asks for a streamed answer.

local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"auto",' .. (stream and '"stream":true,' or '') ..
  '"messages":[{"role":"user","content":"What is the derivative of x^3 + 2x with respect to x? Explain briefly."}]}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
