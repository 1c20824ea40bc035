-- restore-auction.lua: writes an auction rebuilt from the log (docs/design.md §6) in one step:
-- its state hash, its recent events and its bidders' idempotency records, or nothing when the
-- store already holds this auction at the same or a later rev (a late or repeated rebuild never
-- goes back in time). All keys share the auction's hash tag.
--
-- KEYS[1] state hash, KEYS[2] recent-event stream, then per bidder with idempotency records:
-- their answers hash and their order set (as place-bid.lua keeps them)
-- ARGV[1] rev   ARGV[2] events kept   ARGV[3] idempotency TTL ms   ARGV[4] now (epoch ms)
-- ARGV[5] number of hash items H (field, value, ...), then the H items
-- then the number of events E, then E pairs (seq, event JSON), oldest first
-- then, per bidder in KEYS order, the number of records R, then R pairs (key, line), oldest first,
-- then the bidder's newest record time (the pair expires a TTL after it)
-- Returns 1 (restored) or 0 (kept).
local held = tonumber(redis.call('HGET', KEYS[1], 'rev'))
if held and held >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', unpack(KEYS))

local i = 5
local hashItems = tonumber(ARGV[i])
redis.call('HSET', KEYS[1], unpack(ARGV, i + 1, i + hashItems))
redis.call('HSET', KEYS[1], 'rev', ARGV[1])
i = i + hashItems + 1

local events = tonumber(ARGV[i])
for e = 1, events do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], ARGV[i + 2 * e - 1] .. '-1', 'e', ARGV[i + 2 * e])
end
i = i + 2 * events + 1

local ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4])
for k = 3, #KEYS, 2 do
  local records = tonumber(ARGV[i])
  for r = 1, records do
    redis.call('HSET', KEYS[k], ARGV[i + 2 * r - 1], ARGV[i + 2 * r])
    redis.call('ZADD', KEYS[k + 1], r, ARGV[i + 2 * r - 1])
  end
  local newest = tonumber(ARGV[i + 2 * records + 1])
  local left = ttl - (now - newest)
  if left > 0 then
    redis.call('PEXPIRE', KEYS[k], left)
    redis.call('PEXPIRE', KEYS[k + 1], left)
  else
    redis.call('DEL', KEYS[k], KEYS[k + 1])
  end
  i = i + 2 * records + 2
end
return 1
