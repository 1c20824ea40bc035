-- place-bid.lua: the single writer of an auction's live state in Redis (docs/design.md §2).
-- It runs atomically, so no lock is needed; it mirrors src/domain/rules.ts and the contract
-- suite plus a differential test keep the two equal. All keys share the auction's hash tag.
--
-- KEYS[1] state hash, KEYS[2] recent-event stream, KEYS[3] idempotency key
-- ARGV[1] now (epoch ms)   ARGV[2] bidder   ARGV[3] bidder as JSON   ARGV[4] amount
-- ARGV[5] maxAmount or ''  ARGV[6] bid event id   ARGV[7] close event id (buy-now)
-- ARGV[8] events kept      ARGV[9] idempotency TTL ms ('0' = no key)   ARGV[10] fingerprint
--
-- Returns outcomes as data, never as errors:
--   {'OK', answer, leading(1|0), event...}   {'REPLAY', answer}
--   {'NOT_FOUND'} {'NOT_STARTED', startsAt} {'CLOSED'} {'OWN_AUCTION'} {'TOO_LOW', minimum}
--   {'IDEMPOTENCY_KEY_REUSED'}
--
-- Speed: one HMGET of the fields the rules need; the auction's settings are stored once as a
-- rendered JSON prefix ('head') and names as JSON ('leader', 'winner'), so an answer is built
-- by concatenation with no cjson call. Numbers stay below 2^53 (amounts ≤ 1e12, epoch ms), so
-- Lua doubles and the '%.14g' of tostring/concatenation are exact.

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

-- Rule 2: a retried request gets its original answer and appends nothing.
if idemTtl > 0 then
  local prior = redis.call('GET', KEYS[3])
  if prior then
    local cut = string.find(prior, '\n', 1, true)
    if string.sub(prior, 1, cut - 1) ~= ARGV[10] then return {'IDEMPOTENCY_KEY_REUSED'} end
    return {'REPLAY', string.sub(prior, cut + 1)}
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
local function finish(answer, leadingFlag, events)
  if idemTtl > 0 then redis.call('SET', KEYS[3], ARGV[10] .. '\n' .. answer, 'PX', idemTtl) end
  local reply = {'OK', answer, leadingFlag}
  for i = 1, #events do reply[#reply + 1] = events[i] end
  return reply
end
-- The state after this bid: the stored settings prefix, then the live fields.
local function state(status, stateEndsAt, statePrice, stateLeader, bidCount, seq, winner)
  return f[18] .. ',"endsAt":' .. stateEndsAt .. ',"status":"' .. status .. '","price":' .. statePrice ..
    ',"leader":' .. stateLeader .. ',"bidCount":' .. bidCount .. ',"seq":' .. seq .. ',"reserveMet":' .. metFlag ..
    ',"winner":' .. winner .. '}'
end

local selfRaise = leader == bidderJson and not closed
if selfRaise and newPrice == price then
  -- Nothing public changed: keep the new ceiling, append no event.
  redis.call('HSET', KEYS[1], 'leaderMax', tostring(newMax))
  return finish('{"bid":null,"auction":' .. state('open', f[2], f[5], leader, f[17], f[16], 'null') .. ',"leading":true}', 1, {})
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
local auctionJson = '"' .. f[19] .. '"' -- ids are [A-Za-z0-9_-]: nothing to escape
local bidEvent = '{"id":"' .. ARGV[6] .. '","type":"bid.placed","auction":' .. auctionJson .. ',"seq":' .. seq ..
  ',"at":' .. ARGV[1] .. ',"bidder":' .. bidderJson .. ',"amount":' .. eventAmount .. ',"price":' .. newPrice ..
  ',"leader":' .. newLeader .. ',"proxy":' .. proxy .. ',"endsAt":' .. endsAt .. ',"reserveMet":' .. metFlag .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-1', 'e', bidEvent)
local events = {bidEvent}
local status, winner = 'open', 'null'
if closed then
  seq = seq + 1
  local closeEvent = '{"id":"' .. ARGV[7] .. '","type":"auction.closed","auction":' .. auctionJson .. ',"seq":' .. seq ..
    ',"at":' .. ARGV[1] .. ',"winner":' .. bidderJson .. ',"price":' .. newPrice .. ',"reserveMet":true}'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-1', 'e', closeEvent)
  events[2] = closeEvent
  status, winner = 'closed', bidderJson
  redis.call('HSET', KEYS[1], 'closed', '1', 'winner', bidderJson)
end
-- Numbers go in as strings made by tostring ('%.14g', exact here), never left to Redis' own formatting.
redis.call('HSET', KEYS[1], 'price', tostring(newPrice), 'leader', newLeader, 'leaderMax', tostring(newMax),
  'bidCount', tostring(bidCount), 'seq', tostring(seq), 'endsAt', tostring(endsAt), 'reserveMet', metFlag)
return finish('{"bid":' .. bidEvent .. ',"auction":' .. state(status, endsAt, newPrice, newLeader, bidCount, seq, winner) ..
  ',"leading":' .. tostring(leading) .. '}', leading and 1 or 0, events)
