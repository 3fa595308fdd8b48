-- wrk script (scripts/bench-http.sh): appends a user message to a random preloaded thread —
-- BENCH_CONTENT (~300 bytes, scripts/bench/preload.py) with BENCH_METADATA (a few keys).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN")
-- The content is words and spaces only (nothing to escape in JSON).
local body = '{"content":"' .. os.getenv("BENCH_CONTENT") .. '","metadata":' ..
  os.getenv("BENCH_METADATA") .. '}'
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/threads/" .. id .. "/messages", headers, body)
end
