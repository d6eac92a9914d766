-- wrk script for GET /healthz (no database, no token): only reports, like the others.
wrk.path = "/healthz"
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%d " ..
      "status_errors=%d socket_errors=%d timeouts=%d built=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      math.floor(latency.mean), e.status, e.connect + e.read + e.write, e.timeout, summary.requests))
end
