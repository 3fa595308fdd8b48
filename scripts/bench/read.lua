-- wrk script: reads the last 50 messages of a random preloaded thread (scripts/bench-http.sh).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN")
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/threads/" .. id .. "/messages?limit=50",
    { ["Authorization"] = "Bearer " .. token })
end
