-- wrk script for the customer reads: GET READ_PATH (default /api/loyalty/me/wallet; the
-- referral stats run sets /api/loyalty/me/referrals/stats) with a customer token.
--
-- TOKENS_FILE holds one customer JWT per line (run.sh makes them with `bondhu token`);
-- each request picks one of them at random, so the reads spread over those customers.
-- The requests are built once in init(): request() only picks one.
--
-- Environment: TOKENS_FILE, READ_PATH (optional).

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(7919 + 104729 * tid)  -- reproducible, different per thread
   prepared = {}
   local path = os.getenv("READ_PATH") or "/api/loyalty/me/wallet"
   for token in io.lines(os.getenv("TOKENS_FILE")) do
      if token ~= "" then
         table.insert(prepared, wrk.format("GET", path,
            { ["Authorization"] = "Bearer " .. token }))
      end
   end
   assert(#prepared > 0, "no tokens in TOKENS_FILE")
end

function request()
   return prepared[math.random(#prepared)]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%d " ..
      "status_errors=%d socket_errors=%d timeouts=%d built=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      math.floor(latency.mean), e.status, e.connect + e.read + e.write, e.timeout, summary.requests))
end
