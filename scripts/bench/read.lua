-- wrk script (scripts/bench-http.sh): reads the last 50 messages of a random preloaded thread's
-- active path (~45 KB of content: alternating ~300-byte user and ~1.5 KB assistant messages).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local headers = { ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") }
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/threads/" .. id .. "/messages?limit=50", headers)
end
