-- wrk script of bench/bench_claims.py: POST /api/v1/claims/, one distinct customer and
-- idempotency key per request, so every claim is a real grant (no replays, no refusals).
--
-- Arguments (after `--`): token campaign_code first_customer_number per_thread_block
-- Thread t claims customers first + t*block ... first + t*block + block - 1 and stops
-- when its block is used up, so the loop is bounded even if the duration is not.
-- done() prints one RESULT line that bench_claims.py parses.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   token = args[1]
   campaign = args[2]
   first = tonumber(args[3])
   block = tonumber(args[4])
   sent = 0
   status_2xx = 0
   status_409 = 0
   status_other = 0
   wrk.method = "POST"
   wrk.headers["Authorization"] = "Token " .. token
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if sent >= block then
      wrk.thread:stop()
   end
   local number = first + id * block + sent
   sent = sent + 1
   local customer = string.format("C%07d", number)
   local body = string.format(
      '{"campaign":"%s","customer":"%s","channel":"app_push","trigger":"login",'
         .. '"idempotency_key":"bench-%s-%s"}',
      campaign, customer, campaign, customer
   )
   return wrk.format(nil, "/api/v1/claims/", nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      status_2xx = status_2xx + 1
   elseif status == 409 then
      status_409 = status_409 + 1
   else
      status_other = status_other + 1
   end
end

function done(summary, latency, requests)
   local ok, refused, other = 0, 0, 0
   for _, thread in ipairs(threads) do
      ok = ok + thread:get("status_2xx")
      refused = refused + thread:get("status_409")
      other = other + thread:get("status_other")
   end
   local errors = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
         .. "ok=%d refused=%d other=%d socket_errors=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, ok, refused, other,
      errors.connect + errors.read + errors.write + errors.timeout
   ))
end
