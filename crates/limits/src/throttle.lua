-- The password-guessing throttle on Redis (sesame-limits, throttle.rs): the same model as
-- sesame_throttle::Local (crates/throttle/src/local.rs), one atomic script per operation.
-- Each key is a hash {f: failures, l: last failure (ms), g: known good until (ms)} expiring
-- once forgotten. Times are Redis's clock, so replicas' clocks never matter.
-- KEYS: address[, login, pair]. ARGV: op, base_ms, cap_ms, forget_ms, address_free,
-- login_free, shared_free, remember_ms, charged_address, charged_shared.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local base, cap, forget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local free_a, free_l, free_s = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local has_login = #KEYS == 3

local function delay(f, free)
  if f < free then return 0 end
  local shift = math.min(f - free, 31)
  return math.min(base * 2 ^ shift, cap)
end

local function load(k, free)
  local v = redis.call('HMGET', k, 'f', 'l', 'g')
  local e = { f = tonumber(v[1]) or 0, l = tonumber(v[2]) or 0, g = tonumber(v[3]) or 0 }
  if now >= e.l + delay(e.f, free) + forget then e.f = 0 end
  return e
end

local function gate(e, free)
  local u = e.l + delay(e.f, free)
  if e.f >= free and now < u then return u end
  return nil
end

local function save(k, e)
  redis.call('HSET', k, 'f', string.format('%d', e.f), 'l', string.format('%.0f', e.l),
    'g', string.format('%.0f', e.g))
  -- The longest curve bounds every key's delay: expiring with it never drops a live key.
  local ttl = math.max(e.l + delay(e.f, 0) + forget, e.g) - now
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', k, string.format('%.0f', ttl))
end

if op == 'reserve' then
  local addr = load(KEYS[1], free_a)
  local untl = nil
  local function later(u)
    if u and (not untl or u > untl) then untl = u end
  end
  local charged_address, charged_shared, known_good = 0, 0, false
  local pair, shared
  if has_login then
    pair = load(KEYS[3], free_l)
    shared = load(KEYS[2], free_s)
    known_good = pair.g > now
    if pair.f == 0 and not known_good then charged_shared = 1 end
    later(gate(pair, free_l))
    if charged_shared == 1 then later(gate(shared, free_s)) end
  end
  if not known_good then
    charged_address = 1
    later(gate(addr, free_a))
  end
  if untl then return { 0, untl - now, 0, 0 } end
  if charged_address == 1 then
    addr.f = addr.f + 1
    addr.l = now
    save(KEYS[1], addr)
  end
  if has_login then
    pair.f = pair.f + 1
    pair.l = now
    save(KEYS[3], pair)
    if charged_shared == 1 then
      shared.f = shared.f + 1
      shared.l = now
      save(KEYS[2], shared)
    end
  end
  return { 1, 0, charged_address, charged_shared }
elseif op == 'succeeded' then
  if ARGV[9] == '1' then
    local e = load(KEYS[1], free_a)
    e.f = math.max(e.f - 1, 0)
    save(KEYS[1], e)
  end
  if has_login then
    save(KEYS[3], { f = 0, l = now, g = now + tonumber(ARGV[8]) })
    if ARGV[10] == '1' then
      local e = load(KEYS[2], free_s)
      e.f = math.max(e.f - 1, 0)
      save(KEYS[2], e)
    end
  end
  return { 1, 0, 0, 0 }
elseif op == 'gate' then
  local u = gate(load(KEYS[1], free_a), free_a)
  if u then return { 0, u - now, 0, 0 } end
  return { 1, 0, 0, 0 }
elseif op == 'failed' then
  local e = load(KEYS[1], free_a)
  e.f = e.f + 1
  e.l = now
  save(KEYS[1], e)
  return { 1, 0, 0, 0 }
end
return redis.error_reply('unknown throttle operation')
