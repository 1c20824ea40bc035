-- 002_states: the private half of the log (docs/design.md §6), from which a lost store is rebuilt.
-- Never read by the history API: the reserve, the leaders' maxima and idempotency answers live here.

-- Each auction's newest state record (highest rev): its whole state after its last commit.
create table auction_states (
	auction_id text primary key,
	rev bigint not null,
	closed boolean not null,
	at timestamptz not null,
	record json not null
);
-- A rebuild reads the auctions that are not closed, or closed lately.
create index auction_states_open on auction_states (auction_id) where not closed;

-- The answer a retry with an Idempotency-Key gets, for as long as the store keeps it (24 h).
create table idempotency_answers (
	auction_id text not null,
	bidder text not null,
	key text not null,
	at timestamptz not null,
	fingerprint text not null,
	answer text not null,
	primary key (auction_id, bidder, key)
);
create index idempotency_answers_at on idempotency_answers (at);
