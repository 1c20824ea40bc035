-- place-bid.lua: the single writer of an auction's live state in Redis (DESIGN §2).
-- It runs atomically, so no lock is needed; it mirrors src/domain/rules.ts and the contract
-- suite keeps the two equal. All keys share the auction's hash tag (Redis Cluster safe).
--
-- KEYS[1] state hash, KEYS[2] recent-event stream, KEYS[3] idempotency key
-- ARGV[1] now (epoch ms)   ARGV[2] bidder   ARGV[3] amount   ARGV[4] maxAmount or ''
-- ARGV[5] bid event id     ARGV[6] close event id (buy-now)   ARGV[7] events kept
-- ARGV[8] idempotency TTL ms ('0' = no key)                  ARGV[9] request fingerprint
--
-- Returns outcomes as data, never as errors:
--   {'OK', answer, leading(1|0), event...}   {'REPLAY', answer}
--   {'NOT_FOUND'} {'NOT_STARTED', startsAt} {'CLOSED'} {'OWN_AUCTION'} {'TOO_LOW', minimum}
--   {'IDEMPOTENCY_KEY_REUSED'}
-- Numbers stay below 2^53 (amounts ≤ 1e12, epoch ms), so Lua doubles and '%.14g' are exact.

local now = tonumber(ARGV[1])
local bidder = ARGV[2]
local amount = tonumber(ARGV[3])
local maxAmount = tonumber(ARGV[4])
local idemTtl = tonumber(ARGV[8])

local raw = redis.call('HGETALL', KEYS[1])
if #raw == 0 then return {'NOT_FOUND'} end
local a = {}
for i = 1, #raw, 2 do a[raw[i]] = raw[i + 1] end

-- Rule 1: the auction takes bids from this bidder now.
local endsAt = tonumber(a.endsAt)
if now < tonumber(a.startsAt) then return {'NOT_STARTED', tonumber(a.startsAt)} end
if a.closed == '1' or now >= endsAt then return {'CLOSED'} end
if bidder == a.sellerId then return {'OWN_AUCTION'} end

-- Rule 2: a retried request gets its original answer and appends nothing.
if idemTtl > 0 then
  local prior = redis.call('GET', KEYS[3])
  if prior then
    local cut = string.find(prior, '\n', 1, true)
    if string.sub(prior, 1, cut - 1) ~= ARGV[9] then return {'IDEMPOTENCY_KEY_REUSED'} end
    return {'REPLAY', string.sub(prior, cut + 1)}
  end
end

-- The step for price p is that of the last tier with from <= p (tiers: 'from:step from:step').
local function stepAt(p)
  local step
  for from, s in string.gmatch(a.tiers, '(%d+):(%d+)') do
    if tonumber(from) > p then break end
    step = tonumber(s)
  end
  return step
end

-- Rule 3: the minimum.
local price = tonumber(a.price) -- nil before the first bid (stored as '')
local minimum = price and price + stepAt(price) or tonumber(a.startingPrice)
if amount < minimum then return {'TOO_LOW', minimum} end

-- Rule 4: proxy bidding; rule 6: buy-now, judged on the state before this bid.
local leader, leaderMax = a.leader, tonumber(a.leaderMax)
local reserve, buyNow = tonumber(a.reservePrice), tonumber(a.buyNowPrice)
local reserveMet = a.reserveMet == 'true'
local bidMax = amount
if maxAmount and maxAmount > amount then bidMax = maxAmount end
local newPrice, newLeader, newMax = price, leader, leaderMax
local proxy, leading, closed = false, true, false

local buyNowOpen = false
if buyNow then
  if reserve then buyNowOpen = not reserveMet else buyNowOpen = price == nil end
end
if buyNowOpen and amount >= buyNow then
  newPrice, newLeader, newMax, reserveMet, closed = buyNow, bidder, bidMax, true, true
elseif leader == '' then
  newPrice, newLeader, newMax = amount, bidder, bidMax
elseif leader == bidder then
  if bidMax > leaderMax then newMax = bidMax end -- raises the hidden ceiling only
elseif bidMax > leaderMax then
  newPrice = math.max(amount, math.min(bidMax, leaderMax + stepAt(leaderMax)))
  newLeader, newMax = bidder, bidMax
else
  -- The leader's proxy answers; equal maxima keep the earlier bidder in front.
  newPrice = math.min(leaderMax, bidMax + stepAt(bidMax))
  proxy, leading = true, false
end

-- Rule 5: the reserve lifts the price as soon as the leader's maximum reaches it.
if not reserveMet and reserve and newMax >= reserve then
  if newPrice < reserve then newPrice = reserve end
  reserveMet = true
end

local function json(s) return cjson.encode(s) end
local function jsonOrNull(s) if s == nil or s == '' then return 'null' end return cjson.encode(s) end
local function numOrNull(n) if n == nil or n == '' then return 'null' end return n end
local function state(status)
  return '{"id":' .. json(a.id) .. ',"title":' .. json(a.title) .. ',"sellerId":' .. json(a.sellerId) ..
    ',"currency":' .. json(a.currency) .. ',"startingPrice":' .. a.startingPrice .. ',"increment":' .. a.increment ..
    ',"buyNowPrice":' .. numOrNull(a.buyNowPrice) .. ',"softCloseMs":' .. a.softCloseMs .. ',"startsAt":' .. a.startsAt ..
    ',"endsAt":' .. a.endsAt .. ',"maxEndsAt":' .. a.maxEndsAt .. ',"createdAt":' .. a.createdAt ..
    ',"status":"' .. status .. '","price":' .. numOrNull(a.price) .. ',"leader":' .. jsonOrNull(a.leader) ..
    ',"bidCount":' .. a.bidCount .. ',"seq":' .. a.seq .. ',"reserveMet":' .. a.reserveMet .. ',"winner":' .. jsonOrNull(a.winner) .. '}'
end
local function finish(answer, leadingFlag, events)
  if idemTtl > 0 then redis.call('SET', KEYS[3], ARGV[9] .. '\n' .. answer, 'PX', idemTtl) end
  local reply = {'OK', answer, leadingFlag}
  for i = 1, #events do reply[#reply + 1] = events[i] end
  return reply
end

local selfRaise = leader == bidder and not closed
if selfRaise and newPrice == price then
  -- Nothing public changed: keep the new ceiling, append no event.
  redis.call('HSET', KEYS[1], 'leaderMax', tostring(newMax))
  return finish('{"bid":null,"auction":' .. state('open') .. ',"leading":true}', 1, {})
end
local eventAmount = amount
if selfRaise then eventAmount = newPrice end -- the reserve moved the price: show it, never the maximum

-- Rule 7: soft close extends only on public bids, so a hidden raise reveals nothing.
local softClose = tonumber(a.softCloseMs)
if not closed and softClose > 0 and endsAt - now <= softClose then
  endsAt = math.min(now + softClose, tonumber(a.maxEndsAt))
end

-- Rule 8: one bid.placed event with the next dense seq (and auction.closed after a buy-now).
local seq = tonumber(a.seq) + 1
local bidCount = tonumber(a.bidCount) + 1
local metFlag = reserveMet and 'true' or 'false'
local bidEvent = '{"id":"' .. ARGV[5] .. '","type":"bid.placed","auction":' .. json(a.id) .. ',"seq":' .. seq ..
  ',"at":' .. ARGV[1] .. ',"bidder":' .. json(bidder) .. ',"amount":' .. eventAmount .. ',"price":' .. newPrice ..
  ',"leader":' .. json(newLeader) .. ',"proxy":' .. tostring(proxy) .. ',"endsAt":' .. endsAt ..
  ',"reserveMet":' .. metFlag .. '}'
local kept = ARGV[7]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', kept, seq .. '-1', 'e', bidEvent)
local events = {bidEvent}
local status = 'open'
if closed then
  seq = seq + 1
  local closeEvent = '{"id":"' .. ARGV[6] .. '","type":"auction.closed","auction":' .. json(a.id) .. ',"seq":' .. seq ..
    ',"at":' .. ARGV[1] .. ',"winner":' .. json(bidder) .. ',"price":' .. newPrice .. ',"reserveMet":true}'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', kept, seq .. '-1', 'e', closeEvent)
  events[2] = closeEvent
  status = 'closed'
  redis.call('HSET', KEYS[1], 'closed', '1', 'winner', bidder)
  a.winner = bidder
end
-- Numbers go in as strings made by tostring ('%.14g', exact here), never left to Redis' own formatting.
redis.call('HSET', KEYS[1], 'price', tostring(newPrice), 'leader', newLeader, 'leaderMax', tostring(newMax),
  'bidCount', tostring(bidCount), 'seq', tostring(seq), 'endsAt', tostring(endsAt), 'reserveMet', metFlag)
a.price, a.leader, a.bidCount, a.seq, a.endsAt, a.reserveMet = newPrice, newLeader, bidCount, seq, endsAt, metFlag
return finish('{"bid":' .. bidEvent .. ',"auction":' .. state(status) .. ',"leading":' .. tostring(leading) .. '}',
  leading and 1 or 0, events)
