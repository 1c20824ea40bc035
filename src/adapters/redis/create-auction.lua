-- create-auction.lua: writes a new auction's state hash and its auction.created event (seq 0)
-- in one step, or nothing when the id is taken.
-- KEYS[1] state hash, KEYS[2] recent-event stream
-- ARGV[1] auction.created event JSON, ARGV[2] events kept, ARGV[3..] field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-1', 'e', ARGV[1])
return 1
