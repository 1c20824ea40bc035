-- place-bid.lua: the single writer of an auction's live state in Redis (docs/design.md §2).
-- It runs atomically, so no lock is needed; it mirrors src/domain/rules.ts and the contract
-- suite plus a differential test keep the two equal. All keys share the auction's hash tag.
--
-- KEYS[1] state hash, KEYS[2] recent-event stream, KEYS[3] the bidder's idempotency answers
-- (hash: key -> record), KEYS[4] the bidder's idempotency keys in insertion order (sorted set)
-- ARGV[1] now (epoch ms)   ARGV[2] bidder   ARGV[3] bidder as JSON   ARGV[4] amount
-- ARGV[5] maxAmount or ''  ARGV[6] bid event id   ARGV[7] close event id (buy-now)
-- ARGV[8] events kept      ARGV[9] idempotency TTL ms ('0' = no key)   ARGV[10] fingerprint
-- ARGV[11] Idempotency-Key ARGV[12] keys kept per bidder and auction (the oldest go first)
--
-- Returns outcomes as data, never as errors:
--   {'OK', answer, leading(1|0), rev, leaderMax, reservePrice or '', closed(1|0), event...}   {'REPLAY', answer}
--   (rev counts the auction's commits; with the view in the answer and the three private fields,
--   the caller has the whole new state for its state record, docs/design.md §6)
--   {'NOT_FOUND'} {'NOT_STARTED', startsAt} {'CLOSED'} {'OWN_AUCTION'} {'TOO_LOW', minimum}
--   {'IDEMPOTENCY_KEY_REUSED'}
--
-- Speed: one HMGET of the fields the rules need; the auction's settings are stored once as a
-- rendered JSON prefix ('head') and names as JSON ('leader', 'winner'), so an answer is built
-- by concatenation with no cjson call. Numbers stay below 2^53 (amounts ≤ 1e12, epoch ms), so
-- Lua doubles and the '%.14g' of tostring/concatenation are exact.
--
-- Idempotency records keep only what the answer cannot be rebuilt from (~90 bytes, not the
-- ~700-byte answer): the settings head and the bidder are re-read, the rest is one line
--   '<at> <fingerprint> <seq> <bidCount> <endsAt> <price> <flags> <event id> <amount> <leader>'
-- (flags: E an event, P proxy, C closed by buy-now, R reserve met, - none; event id and amount
-- are '-' without an event; leader is '' when it is the bidder). A replay goes through the same
-- builders as the first answer, so it is the same bytes.

local f = redis.call('HMGET', KEYS[1], 'startsAt', 'endsAt', 'closed', 'sellerId', 'price', 'startingPrice',
  'step', 'tiers', 'leader', 'leaderMax', 'reservePrice', 'buyNowPrice', 'reserveMet', 'softCloseMs', 'maxEndsAt',
  'seq', 'bidCount', 'head', 'id')
if not f[19] then return {'NOT_FOUND'} end
local now = tonumber(ARGV[1])
local bidder, bidderJson = ARGV[2], ARGV[3]
local amount = tonumber(ARGV[4])
local idemTtl = tonumber(ARGV[9])

-- Rule 1: the auction takes bids from this bidder now.
local endsAt = tonumber(f[2])
if now < tonumber(f[1]) then return {'NOT_STARTED', tonumber(f[1])} end
if f[3] == '1' or now >= endsAt then return {'CLOSED'} end
if bidder == f[4] then return {'OWN_AUCTION'} end

-- The answer's parts, shared by a new answer and a replay.
local auctionJson = '"' .. f[19] .. '"' -- ids are [A-Za-z0-9_-]: nothing to escape
local function stateJson(status, stateEndsAt, statePrice, stateLeader, bidCount, seq, met, winner)
  return f[18] .. ',"endsAt":' .. stateEndsAt .. ',"status":"' .. status .. '","price":' .. statePrice ..
    ',"leader":' .. stateLeader .. ',"bidCount":' .. bidCount .. ',"seq":' .. seq .. ',"reserveMet":' .. met ..
    ',"winner":' .. winner .. '}'
end
local function bidEventJson(id, seq, at, eventAmount, eventPrice, eventLeader, proxy, eventEndsAt, met)
  return '{"id":"' .. id .. '","type":"bid.placed","auction":' .. auctionJson .. ',"seq":' .. seq ..
    ',"at":' .. at .. ',"bidder":' .. bidderJson .. ',"amount":' .. eventAmount .. ',"price":' .. eventPrice ..
    ',"leader":' .. eventLeader .. ',"proxy":' .. proxy .. ',"endsAt":' .. eventEndsAt .. ',"reserveMet":' .. met .. '}'
end
local function answerJson(bid, state, leading)
  return '{"bid":' .. bid .. ',"auction":' .. state .. ',"leading":' .. leading .. '}'
end
local function has(flags, flag) return string.find(flags, flag, 1, true) ~= nil end

-- Rule 2: a retried request gets its original answer and appends nothing.
if idemTtl > 0 then
  local prior = redis.call('HGET', KEYS[3], ARGV[11])
  if prior then
    local at, fp, seq, bidCount, pEndsAt, pPrice, flags, eventId, eventAmount, leader =
      string.match(prior, '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (.*)$')
    if now - tonumber(at) < idemTtl then -- older: expired, as if never recorded
      if fp ~= ARGV[10] then return {'IDEMPOTENCY_KEY_REUSED'} end
      local leading = leader == ''
      if leading then leader = bidderJson end
      local met = has(flags, 'R') and 'true' or 'false'
      if not has(flags, 'E') then
        return {'REPLAY', answerJson('null', stateJson('open', pEndsAt, pPrice, leader, bidCount, seq, met, 'null'), 'true')}
      end
      local bid = bidEventJson(eventId, seq, at, eventAmount, pPrice, leader, has(flags, 'P') and 'true' or 'false', pEndsAt, met)
      local status, stateSeq, winner = 'open', seq, 'null'
      if has(flags, 'C') then status, stateSeq, winner = 'closed', tonumber(seq) + 1, bidderJson end
      return {'REPLAY', answerJson(bid, stateJson(status, pEndsAt, pPrice, leader, bidCount, stateSeq, met, winner), tostring(leading))}
    end
  end
end

-- The step for price p: fixed, or that of the last tier with from <= p ('from:step from:step').
local fixedStep, tiers = tonumber(f[7]), f[8]
local function stepAt(p)
  if fixedStep then return fixedStep end
  local step
  for from, s in string.gmatch(tiers, '(%d+):(%d+)') do
    if tonumber(from) > p then break end
    step = tonumber(s)
  end
  return step
end

-- Rule 3: the minimum.
local price = tonumber(f[5]) -- nil before the first bid (stored as '')
local minimum = price and price + stepAt(price) or tonumber(f[6])
if amount < minimum then return {'TOO_LOW', minimum} end

-- Rule 4: proxy bidding; rule 6: buy-now, judged on the state before this bid.
local leader, leaderMax = f[9], tonumber(f[10]) -- leader as JSON ('' = none)
local reserve, buyNow = tonumber(f[11]), tonumber(f[12])
local reserveMet = f[13] == 'true'
local bidMax = amount
local maxAmount = tonumber(ARGV[5])
if maxAmount and maxAmount > amount then bidMax = maxAmount end
local newPrice, newLeader, newMax = price, leader, leaderMax
local proxy, leading, closed = 'false', true, false

local buyNowOpen = false
if buyNow then
  if reserve then buyNowOpen = not reserveMet else buyNowOpen = price == nil end
end
if buyNowOpen and amount >= buyNow then
  newPrice, newLeader, newMax, reserveMet, closed = buyNow, bidderJson, bidMax, true, true
elseif leader == '' then
  newPrice, newLeader, newMax = amount, bidderJson, bidMax
elseif leader == bidderJson then
  if bidMax > leaderMax then newMax = bidMax end -- raises the hidden ceiling only
elseif bidMax > leaderMax then
  newPrice = math.max(amount, math.min(bidMax, leaderMax + stepAt(leaderMax)))
  newLeader, newMax = bidderJson, bidMax
else
  -- The leader's proxy answers; equal maxima keep the earlier bidder in front.
  newPrice = math.min(leaderMax, bidMax + stepAt(bidMax))
  proxy, leading = 'true', false
end

-- Rule 5: the reserve lifts the price as soon as the leader's maximum reaches it.
if not reserveMet and reserve and newMax >= reserve then
  if newPrice < reserve then newPrice = reserve end
  reserveMet = true
end

local metFlag = reserveMet and 'true' or 'false'
-- Records the answer under the Idempotency-Key (see the top), then evicts the bidder's oldest
-- keys on this auction beyond the cap. Scores count insertions, so 'oldest' is exact.
local function remember(seq, bidCount, answerEndsAt, answerPrice, flags, eventId, eventAmount, answerLeader)
  if idemTtl == 0 then return end
  if answerLeader == bidderJson then answerLeader = '' end
  if flags == '' then flags = '-' end
  redis.call('HSET', KEYS[3], ARGV[11], ARGV[1] .. ' ' .. ARGV[10] .. ' ' .. seq .. ' ' .. bidCount .. ' ' .. answerEndsAt ..
    ' ' .. answerPrice .. ' ' .. flags .. ' ' .. eventId .. ' ' .. eventAmount .. ' ' .. answerLeader)
  local newest = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[4], (tonumber(newest[2]) or 0) + 1, ARGV[11])
  local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[12])
  if over > 0 then
    local evicted = redis.call('ZPOPMIN', KEYS[4], over)
    for i = 1, #evicted, 2 do redis.call('HDEL', KEYS[3], evicted[i]) end
  end
  -- The newest record expires last: the pair goes when the bidder has been quiet for the TTL.
  redis.call('PEXPIRE', KEYS[3], idemTtl)
  redis.call('PEXPIRE', KEYS[4], idemTtl)
end
local function reply(answer, leadingFlag, events, ceiling, closedFlag)
  local rev = redis.call('HINCRBY', KEYS[1], 'rev', 1)
  local out = {'OK', answer, leadingFlag, rev, tostring(ceiling), f[11], closedFlag}
  for i = 1, #events do out[#out + 1] = events[i] end
  return out
end

local selfRaise = leader == bidderJson and not closed
if selfRaise and newPrice == price then
  -- Nothing public changed: keep the new ceiling, append no event.
  redis.call('HSET', KEYS[1], 'leaderMax', tostring(newMax))
  remember(f[16], f[17], f[2], f[5], reserveMet and 'R' or '', '-', '-', leader)
  return reply(answerJson('null', stateJson('open', f[2], f[5], leader, f[17], f[16], metFlag, 'null'), 'true'), 1, {}, newMax, 0)
end
local eventAmount = amount
if selfRaise then eventAmount = newPrice end -- the reserve moved the price: show it, never the maximum

-- Rule 7: soft close extends only on public bids, so a hidden raise reveals nothing.
local softClose = tonumber(f[14])
if not closed and softClose > 0 and endsAt - now <= softClose then
  endsAt = math.min(now + softClose, tonumber(f[15]))
end

-- Rule 8: one bid.placed event with the next dense seq (and auction.closed after a buy-now).
local seq = tonumber(f[16]) + 1
local bidCount = tonumber(f[17]) + 1
local bidEvent = bidEventJson(ARGV[6], seq, ARGV[1], eventAmount, newPrice, newLeader, proxy, endsAt, metFlag)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-1', 'e', bidEvent)
local events = {bidEvent}
local status, stateSeq, winner = 'open', seq, 'null'
if closed then
  stateSeq = seq + 1
  local closeEvent = '{"id":"' .. ARGV[7] .. '","type":"auction.closed","auction":' .. auctionJson .. ',"seq":' .. stateSeq ..
    ',"at":' .. ARGV[1] .. ',"winner":' .. bidderJson .. ',"price":' .. newPrice .. ',"reserveMet":true}'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], stateSeq .. '-1', 'e', closeEvent)
  events[2] = closeEvent
  status, winner = 'closed', bidderJson
  redis.call('HSET', KEYS[1], 'closed', '1', 'winner', bidderJson)
end
-- Numbers go in as strings made by tostring ('%.14g', exact here), never left to Redis' own formatting.
redis.call('HSET', KEYS[1], 'price', tostring(newPrice), 'leader', newLeader, 'leaderMax', tostring(newMax),
  'bidCount', tostring(bidCount), 'seq', tostring(stateSeq), 'endsAt', tostring(endsAt), 'reserveMet', metFlag)
remember(seq, bidCount, endsAt, newPrice, 'E' .. (proxy == 'true' and 'P' or '') .. (closed and 'C' or '') .. (reserveMet and 'R' or ''),
  ARGV[6], eventAmount, newLeader)
return reply(answerJson(bidEvent, stateJson(status, endsAt, newPrice, newLeader, bidCount, stateSeq, metFlag, winner), tostring(leading)),
  leading and 1 or 0, events, newMax, closed and 1 or 0)
