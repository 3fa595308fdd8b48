-- wrk script: appends a short message to a random preloaded thread (scripts/bench-http.sh).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local body = '{"content":"a short message from the benchmark"}'
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/threads/" .. id .. "/messages",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end
