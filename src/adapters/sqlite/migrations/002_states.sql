-- 002_states: the private half of the log, as in Postgres (src/adapters/postgres/migrations).

create table auction_states (
	auction_id text primary key,
	rev integer not null,
	closed integer not null,
	at_ms integer not null,
	record text not null
);
create index auction_states_open on auction_states (auction_id) where closed = 0;

create table idempotency_answers (
	auction_id text not null,
	bidder text not null,
	key text not null,
	at_ms integer not null,
	fingerprint text not null,
	answer text not null,
	primary key (auction_id, bidder, key)
);
create index idempotency_answers_at on idempotency_answers (at_ms);
