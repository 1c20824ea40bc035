-- close-auction.lua: ends one auction exactly once, however many closers race for it.
-- It re-checks the current endsAt (soft close may have moved it since it was scheduled).
-- KEYS[1] state hash, KEYS[2] recent-event stream
-- ARGV[1] now (epoch ms), ARGV[2] closed event id, ARGV[3] events kept
-- Returns {'CLOSED', event, rev, createdAt} | {'ALREADY', createdAt} | {'NOT_DUE', endsAt, createdAt} | {'NOT_FOUND'}
-- (rev: the auction's commits, for the state record of the close)
-- (createdAt names the auction in the listing sets, which the caller updates: another slot).
local raw = redis.call('HMGET', KEYS[1], 'id', 'closed', 'endsAt', 'seq', 'price', 'leader', 'reserveMet', 'createdAt')
local id, closed, endsAt, seq, price, leader, reserveMet = raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]
local createdAt = tonumber(raw[8])
if not id then return {'NOT_FOUND'} end
if closed == '1' then return {'ALREADY', createdAt} end
if tonumber(ARGV[1]) < tonumber(endsAt) then return {'NOT_DUE', tonumber(endsAt), createdAt} end

-- No winner without a bid, or while the reserve is unmet. Names are stored as JSON.
local winner = ''
if leader ~= '' and reserveMet == 'true' then winner = leader end
local nextSeq = tonumber(seq) + 1
local winnerJson = 'null'
if winner ~= '' then winnerJson = winner end
local priceJson = 'null'
if price ~= '' then priceJson = price end
local event = '{"id":"' .. ARGV[2] .. '","type":"auction.closed","auction":' .. cjson.encode(id) .. ',"seq":' .. nextSeq ..
  ',"at":' .. ARGV[1] .. ',"winner":' .. winnerJson .. ',"price":' .. priceJson .. ',"reserveMet":' .. reserveMet .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], nextSeq .. '-1', 'e', event)
redis.call('HSET', KEYS[1], 'closed', '1', 'winner', winner, 'seq', tostring(nextSeq))
return {'CLOSED', event, redis.call('HINCRBY', KEYS[1], 'rev', 1), createdAt}
