-- wrk script: score lookups for the subjects listed in SUBJECTS_FILE (one per line), at random.
local key = os.getenv("KEY")
local purpose = os.getenv("PURPOSE") or "lending.consumer"
local subjects = {}
for line in io.lines(os.getenv("SUBJECTS_FILE")) do subjects[#subjects + 1] = line end
request = function()
  local subject = subjects[math.random(1, #subjects)]
  return wrk.format("GET", "/v1/subjects/" .. subject .. "/score?purpose=" .. purpose,
    { ["Authorization"] = "Bearer " .. key })
end
