-- catalog.lua: keeps the catalog (docs/decisions.md "Listing"): the index of all auctions, the
-- closers' schedule and the listing by status, all in the catalog's own slot, never an auction's.
-- KEYS[1] index: members '<createdAt>|<id>', score 0, read BYLEX
-- KEYS[2] due: auction ids by scheduled end
-- KEYS[3] scheduled, KEYS[4] open, KEYS[5] closed: the index's members by status, score 0
-- KEYS[6] starts: the scheduled members by startsAt
-- KEYS[7] ends: the members not in closed, by their end as last seen (a lower bound: soft close
--         only moves an end later, so a member whose score has passed may still be open)
--
-- ARGV[1] 'enter', then per auction: member, status, startsAt, endsAt: into the index, the
--   schedule (unless closed; NX: an end the schedule knows is never moved back) and its status set.
-- ARGV[1] 'add', then per auction: member, status ('scheduled' | 'open' | 'closed'), startsAt, endsAt
--   'closed' means the auction's closed flag is set (the closer, a buy-now) and is final: an
--   'add' made from an earlier read never takes a member back out of it, and it leaves the
--   schedule. An auction whose end has passed without a close yet stays where it is; listing
--   finds it through 'ends'.
-- ARGV[1] 'promote', ARGV[2] now, ARGV[3] at most this many: scheduled members whose start has
--   passed become open (startsAt never changes, so this is exact). Returns how many were due.
-- ARGV[1] 'reschedule', ARGV[2] member, ARGV[3] endsAt: the close script found a later end (soft close).
-- ARGV[1] 'unschedule', then ids: auctions the closers need not look at again (gone).
-- ARGV[1] 'drop', then members: auctions whose state is gone, or a create that found its id
--   taken, leave the index and every status set (not the schedule: it is keyed by id, and the id
--   may be another auction's).
local index, due, scheduled, open, closed, starts, ends = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op = ARGV[1]

local function idOf(member)
  return string.sub(member, string.find(member, '|', 1, true) + 1)
end

if op == 'promote' then
  local started = redis.call('ZRANGE', starts, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
  for _, member in ipairs(started) do
    if redis.call('ZREM', scheduled, member) == 1 then redis.call('ZADD', open, 0, member) end
  end
  if #started > 0 then redis.call('ZREM', starts, unpack(started)) end
  return #started
end

if op == 'reschedule' then
  redis.call('ZADD', due, ARGV[3], idOf(ARGV[2]))
  redis.call('ZADD', ends, 'XX', 'GT', ARGV[3], ARGV[2])
  return 0
end

if op == 'unschedule' then
  redis.call('ZREM', due, unpack(ARGV, 2))
  return 0
end

if op == 'drop' then
  for i = 2, #ARGV do
    for k = 1, #KEYS do
      if k ~= 2 then redis.call('ZREM', KEYS[k], ARGV[i]) end
    end
  end
  return 0
end

local entering = op == 'enter'
for i = 2, #ARGV, 4 do
  local member, status = ARGV[i], ARGV[i + 1]
  if entering then
    redis.call('ZADD', index, 0, member)
    if status ~= 'closed' then redis.call('ZADD', due, 'NX', ARGV[i + 3], idOf(member)) end
  end
  if status == 'closed' then
    redis.call('ZADD', closed, 0, member)
    redis.call('ZREM', scheduled, member)
    redis.call('ZREM', open, member)
    redis.call('ZREM', starts, member)
    redis.call('ZREM', ends, member)
    redis.call('ZREM', due, idOf(member))
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
