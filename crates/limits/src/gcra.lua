-- GCRA lease (sesame-limits, rate.rs). One key per limited user or account holds its
-- "theoretical arrival time" (TAT, microseconds of Redis's clock, so replicas' clocks never
-- matter). A replica first charges the calls it admitted on credit (`debt`: they happened, they
-- push the TAT even past the tolerance), then takes up to `want` tokens the bucket allows now.
-- KEYS[1]: the bucket. ARGV: interval_us (float), capacity, want, debt.
-- Returns {granted, wait_us}: wait_us is how long until one more token, when fewer than
-- `want` were granted.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local debt = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
tat = tat + debt * interval
local room = math.floor((now + cap * interval - tat) / interval)
if room < 0 then room = 0 end
local granted = math.min(want, room)
tat = tat + granted * interval
local wait = 0
if granted < want then
  wait = math.ceil(tat - (cap - 1) * interval - now)
  if wait < 0 then wait = 0 end
end
if tat > now then
  -- Expires once the bucket is full again: an absent key reads as a full bucket.
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {granted, wait}
