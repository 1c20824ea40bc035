-- listing.lua: keeps the listing-by-status sets (docs/decisions.md "Listing"), all in the
-- listing's own slot, never an auction's.
-- KEYS[1] scheduled, KEYS[2] open, KEYS[3] closed: members '<createdAt>|<id>', score 0, read BYLEX
-- KEYS[4] starts: the scheduled members by startsAt
-- KEYS[5] ends: the members not in closed, by their end as last seen (a lower bound: soft close
--         only moves an end later, so a member whose score has passed may still be open)
--
-- ARGV[1] 'add', then per auction: member, status ('scheduled' | 'open' | 'closed'), startsAt, endsAt
--   'closed' means the auction's closed flag is set (the closer, a buy-now) and is final: an
--   'add' made from an earlier read never takes a member back out of it. An auction whose end
--   has passed without a close yet stays where it is; listing finds it through 'ends'.
-- ARGV[1] 'promote', ARGV[2] now, ARGV[3] at most this many: scheduled members whose start has
--   passed become open (startsAt never changes, so this is exact). Returns how many were due.
-- ARGV[1] 'drop', then members: auctions whose state is gone leave every set.
local scheduled, open, closed, starts, ends = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op = ARGV[1]

if op == 'promote' then
  local due = redis.call('ZRANGE', starts, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
  for _, member in ipairs(due) do
    if redis.call('ZREM', scheduled, member) == 1 then redis.call('ZADD', open, 0, member) end
  end
  if #due > 0 then redis.call('ZREM', starts, unpack(due)) end
  return #due
end

if op == 'drop' then
  for i = 2, #ARGV do
    for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[i]) end
  end
  return 0
end

for i = 2, #ARGV, 4 do
  local member, status = ARGV[i], ARGV[i + 1]
  if status == 'closed' then
    redis.call('ZADD', closed, 0, member)
    redis.call('ZREM', scheduled, member)
    redis.call('ZREM', open, member)
    redis.call('ZREM', starts, member)
    redis.call('ZREM', ends, member)
  elseif not redis.call('ZSCORE', closed, member) then
    if status == 'scheduled' then
      redis.call('ZADD', scheduled, 0, member)
      redis.call('ZADD', starts, ARGV[i + 2], member)
    else
      redis.call('ZADD', open, 0, member)
      redis.call('ZREM', scheduled, member)
      redis.call('ZREM', starts, member)
    end
    redis.call('ZADD', ends, 'GT', ARGV[i + 3], member)
  end
end
return 0
