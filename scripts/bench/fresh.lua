-- wrk script (scripts/bench-http.sh): read.lua's request with `Cache-Control: no-cache`, so the
-- service reads and renders every page afresh instead of answering a kept page it has checked
-- (threads.page_cache_bytes, docs/operations.md "Pages read again"): the read path without
-- the page cache, in the same run.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
  ["Cache-Control"] = "no-cache",
}
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/threads/" .. id .. "/messages?limit=50", headers)
end
