-- 001_init: the archive's two tables (docs/design.md §6). Money is bigint minor units, times timestamptz.

-- One row per auction, kept current from its events by the archiver's write statement:
-- settings from auction.created, price/leader/endsAt from the highest bid.placed, the outcome
-- from auction.closed. last_seq/event_count tell crash repair whether any seq is missing.
create table auctions (
	id text primary key,
	title text,
	seller_id text,
	currency text,
	starting_price bigint,
	increment jsonb,
	buy_now_price bigint,
	soft_close_ms bigint,
	starts_at timestamptz,
	ends_at timestamptz,
	max_ends_at timestamptz,
	created_at timestamptz,
	status text not null default 'open' check (status in ('open', 'closed')),
	price bigint,
	leader text,
	reserve_met boolean,
	winner text,
	closed_at timestamptz,
	bid_count bigint not null default 0,
	-- seq of the bid.placed the price/leader/ends_at columns come from (events may arrive out of order)
	bid_seq bigint not null default -1,
	event_count bigint not null default 0,
	last_seq bigint not null default -1,
	updated_at timestamptz not null default now()
);

-- The crash-repair sweep reads only auctions that can still change or have a hole.
create index auctions_unsettled on auctions (id) where status <> 'closed' or event_count <> last_seq + 1;

-- Every event of every type, once. payload is the event JSON exactly as published (json, not
-- jsonb: the bytes stay identical to the bus and WebSockets); the typed columns are for queries.
create table bid_events (
	event_id uuid primary key,
	auction_id text not null,
	seq bigint not null check (seq >= 0),
	type text not null check (type in ('auction.created', 'bid.placed', 'auction.closed')),
	at timestamptz not null,
	bidder text,
	amount bigint,
	price bigint,
	leader text,
	proxy boolean,
	ends_at timestamptz,
	reserve_met boolean,
	winner text,
	payload json not null,
	archived_at timestamptz not null default now(),
	-- also the history index: pages by seq in either direction are index range scans
	constraint bid_events_auction_seq unique (auction_id, seq)
);

-- A bidder's own bids, newest first (support and disputes).
create index bid_events_bidder on bid_events (bidder, at desc) where type = 'bid.placed';
