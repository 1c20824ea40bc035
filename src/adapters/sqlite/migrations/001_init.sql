-- 001_init: the embedded archive, same shape as the Postgres one (src/adapters/postgres/migrations).
-- Money is integer minor units, times integer epoch milliseconds (*_ms).

create table auctions (
	id text primary key,
	title text,
	seller_id text,
	currency text,
	starting_price integer,
	increment text,
	buy_now_price integer,
	soft_close_ms integer,
	starts_at_ms integer,
	ends_at_ms integer,
	max_ends_at_ms integer,
	created_at_ms integer,
	status text not null default 'open' check (status in ('open', 'closed')),
	price integer,
	leader text,
	reserve_met integer,
	winner text,
	closed_at_ms integer,
	bid_count integer not null default 0,
	bid_seq integer not null default -1,
	event_count integer not null default 0,
	last_seq integer not null default -1,
	updated_at_ms integer not null
) strict;

create index auctions_unsettled on auctions (id) where status <> 'closed' or event_count <> last_seq + 1;

create table bid_events (
	event_id text primary key,
	auction_id text not null,
	seq integer not null check (seq >= 0),
	type text not null check (type in ('auction.created', 'bid.placed', 'auction.closed')),
	at_ms integer not null,
	bidder text,
	amount integer,
	price integer,
	leader text,
	proxy integer,
	ends_at_ms integer,
	reserve_met integer,
	winner text,
	payload text not null,
	unique (auction_id, seq)
) strict, without rowid;

create index bid_events_bidder on bid_events (bidder, at_ms desc) where type = 'bid.placed';
