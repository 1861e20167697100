-- wrk script: score lookups for random subjects p-0 … p-(SUBJECTS-1) under one consumer key.
--   KEY=stk_… SUBJECTS=1000000 PURPOSE=lending.consumer wrk -t1 -c32 -d20s --latency \
--     -s crates/standing-server/benches/score.lua http://127.0.0.1:8080
local key = os.getenv("KEY")
local subjects = tonumber(os.getenv("SUBJECTS") or "1000")
local purpose = os.getenv("PURPOSE") or "lending.consumer"
local decide = os.getenv("DECIDE") == "1"

request = function()
  local subject = "p-" .. math.random(0, subjects - 1)
  local headers = { ["Authorization"] = "Bearer " .. key }
  if decide then
    headers["Content-Type"] = "application/json"
    local body = '{"purpose":"' .. purpose .. '","subject":"' .. subject .. '"}'
    return wrk.format("POST", "/v1/decisions", headers, body)
  end
  return wrk.format("GET", "/v1/subjects/" .. subject .. "/score?purpose=" .. purpose, headers)
end
