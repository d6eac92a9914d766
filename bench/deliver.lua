-- wrk script for the delivered path: POST /api/orders/{id}/status {"status":"delivered"}.
--
-- Every request delivers a different pending order from [ORDER_LO, ORDER_HI]: thread t
-- (0-based, WRK_THREADS threads) sends ORDER_LO + t, ORDER_LO + t + WRK_THREADS, ...
-- If a thread runs past ORDER_HI it sends order 2147483647, which does not exist: the
-- 404s show up as status errors and run.sh marks the run invalid (pool too small).
--
-- Environment: ORDER_LO, ORDER_HI, WRK_THREADS, ADMIN_TOKEN.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)          -- 0-based thread number
   table.insert(threads, thread)
end

function init(args)
   lo = tonumber(os.getenv("ORDER_LO"))
   hi = tonumber(os.getenv("ORDER_HI"))
   nthreads = tonumber(os.getenv("WRK_THREADS"))
   sent = 0                             -- requests this thread has built
   headers = {
      ["Authorization"] = "Bearer " .. os.getenv("ADMIN_TOKEN"),
      ["Content-Type"] = "application/json",
   }
   body = '{"status":"delivered"}'
end

function request()
   local id = lo + tid + nthreads * sent
   sent = sent + 1
   if id > hi then
      id = 2147483647                   -- pool exhausted: a missing order, answered 404
   end
   return wrk.format("POST", "/api/orders/" .. id .. "/status", headers, body)
end

-- One machine-readable line for run.sh (latencies in microseconds).
function done(summary, latency, requests)
   local built = 0
   for _, thread in ipairs(threads) do
      built = built + thread:get("sent")
   end
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%d " ..
      "status_errors=%d socket_errors=%d timeouts=%d built=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      math.floor(latency.mean), e.status, e.connect + e.read + e.write, e.timeout, built))
end
