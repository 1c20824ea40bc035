import postgres, { type Sql } from 'postgres'
import {
	ArchiveDataError,
	type Archive,
	type ArchivedAuction,
	type ArchivedEvent,
	type ArchiveEvent,
	type ArchiveProgress,
	type HistoryQuery,
	type SeqConflict,
	type WriteResult,
} from '../../ports/archive.ts'
import { migrate } from './migrate.ts'
import { postgresStates } from './states.ts'
import { arrayLiteral } from './array-literal.ts'

import { postgresTls } from './tls.ts'

export interface PostgresArchiveOptions {
	url: string
	/** DATABASE_MIGRATION_URL: migrations run as this (the schema's owner); everything else as `url` (a role with only the grants it needs). */
	migrationUrl?: string
	/** DATABASE_CA_FILE: the CA bundle a `sslmode=verify-full` URL is checked against, when it names none. */
	caFile?: string
	/** Extra connection parameters, e.g. `{ search_path: 'gtest_…' }` (URL query parameters work too). */
	connection?: Record<string, string>
	/** Pool size: the archiver writes one batch at a time, readers serve history pages. */
	max?: number
}

const NO_SEQ = Number.MAX_SAFE_INTEGER

/**
 * The batch insert: ONE statement whatever the batch size (14 array parameters, never near
 * Postgres' 65,535-parameter limit). It inserts the events, skips those already archived (by
 * id, or by a taken (auction, seq): SKIPPED tells which), and folds only the newly inserted ones
 * into their auctions' rows, so a redelivered batch changes nothing and counts stay exact. Rows
 * are taken in (auction, seq) order so concurrent archivers lock in the same order, and in batch
 * order within one seq, so of two events claiming one seq in a batch the earlier is kept.
 */
const WRITE = `
with input as (
	select * from unnest(
		$1::uuid[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::int8[],
		$8::int8[], $9::text[], $10::bool[], $11::int8[], $12::bool[], $13::text[], $14::text[]
	) with ordinality as e(event_id, auction_id, seq, type, at_ms, bidder, amount, price, leader, proxy, ends_at_ms, reserve_met, winner, payload, ord)
),
inserted as (
	insert into bid_events (event_id, auction_id, seq, type, at, bidder, amount, price, leader, proxy, ends_at, reserve_met, winner, payload)
	select event_id, auction_id, seq, type, timestamptz 'epoch' + at_ms * interval '1 millisecond', bidder, amount, price,
		leader, proxy, timestamptz 'epoch' + ends_at_ms * interval '1 millisecond', reserve_met, winner, payload::json
	from input
	order by auction_id, seq, ord
	on conflict do nothing
	returning auction_id, seq, type, at, price, leader, ends_at, reserve_met, winner,
		case when type = 'auction.created' then payload end as created
),
per_auction as (
	select auction_id, count(*) as events, count(*) filter (where type = 'bid.placed') as bids, max(seq) as last_seq
	from inserted group by auction_id
),
last_bid as (
	select distinct on (auction_id) auction_id, seq, price, leader, ends_at, reserve_met
	from inserted where type = 'bid.placed' order by auction_id, seq desc
),
created as (select auction_id, at, created as p from inserted where type = 'auction.created'),
closed as (select auction_id, at, winner from inserted where type = 'auction.closed')
insert into auctions as a (
	id, title, seller_id, currency, starting_price, increment, buy_now_price, soft_close_ms, starts_at, max_ends_at,
	created_at, ends_at, price, leader, reserve_met, bid_seq, status, winner, closed_at, bid_count, event_count, last_seq
)
select n.auction_id, c.p->>'title', c.p->>'sellerId', c.p->>'currency', (c.p->>'startingPrice')::int8,
	(c.p->'increment')::jsonb, (c.p->>'buyNowPrice')::int8, (c.p->>'softCloseMs')::int8,
	timestamptz 'epoch' + (c.p->>'startsAt')::int8 * interval '1 millisecond',
	timestamptz 'epoch' + (c.p->>'maxEndsAt')::int8 * interval '1 millisecond',
	c.at, coalesce(b.ends_at, timestamptz 'epoch' + (c.p->>'endsAt')::int8 * interval '1 millisecond'),
	b.price, b.leader, coalesce(b.reserve_met, (c.p->>'reserveMet')::bool), coalesce(b.seq, -1),
	case when x.auction_id is null then 'open' else 'closed' end, x.winner, x.at,
	n.bids, n.events, n.last_seq
from per_auction n
left join created c using (auction_id)
left join last_bid b using (auction_id)
left join closed x using (auction_id)
order by n.auction_id
on conflict (id) do update set
	title = coalesce(a.title, excluded.title),
	seller_id = coalesce(a.seller_id, excluded.seller_id),
	currency = coalesce(a.currency, excluded.currency),
	starting_price = coalesce(a.starting_price, excluded.starting_price),
	increment = coalesce(a.increment, excluded.increment),
	buy_now_price = coalesce(a.buy_now_price, excluded.buy_now_price),
	soft_close_ms = coalesce(a.soft_close_ms, excluded.soft_close_ms),
	starts_at = coalesce(a.starts_at, excluded.starts_at),
	max_ends_at = coalesce(a.max_ends_at, excluded.max_ends_at),
	created_at = coalesce(a.created_at, excluded.created_at),
	ends_at = case when excluded.bid_seq > a.bid_seq then excluded.ends_at else coalesce(a.ends_at, excluded.ends_at) end,
	price = case when excluded.bid_seq > a.bid_seq then excluded.price else a.price end,
	leader = case when excluded.bid_seq > a.bid_seq then excluded.leader else a.leader end,
	reserve_met = case when excluded.bid_seq > a.bid_seq then excluded.reserve_met else coalesce(a.reserve_met, excluded.reserve_met) end,
	bid_seq = greatest(a.bid_seq, excluded.bid_seq),
	status = case when excluded.status = 'closed' then 'closed' else a.status end,
	winner = case when excluded.status = 'closed' then excluded.winner else a.winner end,
	closed_at = coalesce(a.closed_at, excluded.closed_at),
	bid_count = a.bid_count + excluded.bid_count,
	event_count = a.event_count + excluded.event_count,
	last_seq = greatest(a.last_seq, excluded.last_seq),
	updated_at = now()
returning (select count(*) from inserted) as written
`

/**
 * Runs only after WRITE skipped rows (written < batch size): which of the batch's events lost
 * their (auction, seq) to an event with another id. One whose own id is archived is a duplicate
 * (a redelivery), not a conflict; every other one finds the event holding its seq. `ord` is the
 * 1-based position in the batch.
 */
const SKIPPED = `
select i.ord, s.event_id::text as stored_id, s.payload::text as stored_json
from unnest($1::uuid[], $2::text[], $3::int8[]) with ordinality as i(event_id, auction_id, seq, ord)
join bid_events s on s.auction_id = i.auction_id and s.seq = i.seq and s.event_id <> i.event_id
where not exists (select 1 from bid_events d where d.event_id = i.event_id)
order by i.ord
`

/**
 * createPostgresArchive keeps the archive in Postgres. The pool connects lazily, so creating it
 * never fails; `migrate()` applies the schema (the archiver calls it before its first write).
 */
export function createPostgresArchive(options: PostgresArchiveOptions) {
	const tls = postgresTls(options.url, undefined, options.caFile)
	const sql: Sql = postgres(tls.url, {
		...(tls.ssl ? { ssl: tls.ssl } : {}),
		max: options.max ?? 10,
		connection: options.connection,
		connect_timeout: 10,
		idle_timeout: 60,
		onnotice: () => {}, // "relation already exists, skipping" and the like
	})

	const dataError = (err: unknown): unknown => {
		// SQLSTATE class 22 (data exception) and 23 (integrity): the rows themselves are refused.
		if (err instanceof postgres.PostgresError && /^2[23]/.test(err.code))
			return new ArchiveDataError(`the archive refused the batch: ${err.message}`, { cause: err })
		return err
	}

	/** The follow-up to a write that skipped rows: SKIPPED over the batch's ids and seqs. */
	const conflictsAmong = async <E extends ArchiveEvent>(
		events: readonly E[],
		cols: { id: string[]; auction: string[]; seq: number[] },
	): Promise<SeqConflict<E>[]> => {
		const rows = await sql.unsafe<{ ord: string; stored_id: string; stored_json: string }[]>(
			SKIPPED,
			[arrayLiteral(cols.id), arrayLiteral(cols.auction), arrayLiteral(cols.seq)],
			{ prepare: true },
		)
		return rows.map((r) => {
			const incoming = events[Number(r.ord) - 1]!
			return { auction: incoming.event.auction, seq: incoming.event.seq, stored: { id: r.stored_id, json: r.stored_json }, incoming }
		})
	}

	const archive = {
		...postgresStates(sql),
		async write<E extends ArchiveEvent>(events: readonly E[]): Promise<WriteResult<E>> {
			if (events.length === 0) return { written: 0, conflicts: [] }
			const n = events.length
			const cols = {
				id: new Array<string>(n),
				auction: new Array<string>(n),
				seq: new Array<number>(n),
				type: new Array<string>(n),
				at: new Array<number>(n),
				bidder: new Array<string | null>(n),
				amount: new Array<number | null>(n),
				price: new Array<number | null>(n),
				leader: new Array<string | null>(n),
				proxy: new Array<boolean | null>(n),
				endsAt: new Array<number | null>(n),
				reserveMet: new Array<boolean | null>(n),
				winner: new Array<string | null>(n),
				payload: new Array<string>(n),
			}
			for (let i = 0; i < n; i++) {
				const { event: e, json } = events[i]!
				cols.id[i] = e.id
				cols.auction[i] = e.auction
				cols.seq[i] = e.seq
				cols.type[i] = e.type
				cols.at[i] = e.at
				const bid = e.type === 'bid.placed' ? e : null
				cols.bidder[i] = bid?.bidder ?? null
				cols.amount[i] = bid?.amount ?? null
				cols.price[i] = e.type === 'auction.created' ? null : e.price
				cols.leader[i] = bid?.leader ?? null
				cols.proxy[i] = bid?.proxy ?? null
				cols.endsAt[i] = bid?.endsAt ?? null
				cols.reserveMet[i] = e.reserveMet
				cols.winner[i] = e.type === 'auction.closed' ? e.winner : null
				cols.payload[i] = json
			}
			try {
				const rows = await sql.unsafe<{ written: string }[]>(WRITE, [
					arrayLiteral(cols.id),
					arrayLiteral(cols.auction),
					arrayLiteral(cols.seq),
					arrayLiteral(cols.type),
					arrayLiteral(cols.at),
					arrayLiteral(cols.bidder),
					arrayLiteral(cols.amount),
					arrayLiteral(cols.price),
					arrayLiteral(cols.leader),
					arrayLiteral(cols.proxy),
					arrayLiteral(cols.endsAt),
					arrayLiteral(cols.reserveMet),
					arrayLiteral(cols.winner),
					arrayLiteral(cols.payload),
				], { prepare: true })
				const written = rows.length === 0 ? 0 : Number(rows[0]!.written)
				// The common path ends here: every event was new, nothing to tell apart.
				if (written === n) return { written, conflicts: [] }
				return { written, conflicts: await conflictsAmong(events, cols) }
			} catch (err) {
				throw dataError(err)
			}
		},

		async bids(auction: string, { order, after, limit }: HistoryQuery) {
			const rows =
				order === 'desc'
					? await sql<{ seq: string; json: string }[]>`
						select seq, payload::text as json from bid_events
						where auction_id = ${auction} and type = 'bid.placed' and seq < ${after ?? NO_SEQ}
						order by seq desc limit ${limit}`
					: await sql<{ seq: string; json: string }[]>`
						select seq, payload::text as json from bid_events
						where auction_id = ${auction} and type = 'bid.placed' and seq > ${after ?? -1}
						order by seq limit ${limit}`
			if (rows.length === 0 && (await sql`select 1 from auctions where id = ${auction}`).length === 0) return null
			return rows.map(toEvent)
		},

		async events(auction: string, after: number, limit: number) {
			const rows = await sql<{ seq: string; json: string }[]>`
				select seq, payload::text as json from bid_events
				where auction_id = ${auction} and seq > ${after} order by seq limit ${limit}`
			return rows.map(toEvent)
		},

		async auction(id: string): Promise<ArchivedAuction | null> {
			const [row] = await sql<AuctionRow[]>`
				select id, title, seller_id, currency, starting_price, status, price, leader, reserve_met,
					(extract(epoch from ends_at) * 1000)::int8 as ends_at_ms, winner, bid_count, event_count, last_seq
				from auctions where id = ${id}`
			if (!row) return null
			const num = (v: string | null) => (v === null ? null : Number(v))
			return {
				id: row.id,
				title: row.title,
				sellerId: row.seller_id,
				currency: row.currency,
				startingPrice: num(row.starting_price),
				status: row.status,
				price: num(row.price),
				leader: row.leader,
				reserveMet: row.reserve_met,
				endsAt: num(row.ends_at_ms),
				winner: row.winner,
				bidCount: Number(row.bid_count),
				eventCount: Number(row.event_count),
				lastSeq: Number(row.last_seq),
			}
		},

		async unsettled(after: string, limit: number) {
			// The predicate repeats the partial index's, so this is a scan of that index only.
			const rows = await sql<ProgressRow[]>`
				select id, last_seq, event_count, status = 'closed' as closed from auctions
				where (status <> 'closed' or event_count <> last_seq + 1) and id > ${after}
				order by id limit ${limit}`
			return rows.map(toProgress)
		},

		async progress(ids: readonly string[]) {
			if (ids.length === 0) return []
			const rows = await sql<ProgressRow[]>`
				select id, last_seq, event_count, status = 'closed' as closed from auctions
				where id = any(${arrayLiteral(ids)}::text[])`
			return rows.map(toProgress)
		},

		async missingSeqs(auction: string, upTo: number, limit: number) {
			const rows = await sql<{ seq: string }[]>`
				select s as seq from generate_series(0::int8, ${upTo}::int8) s
				where not exists (select 1 from bid_events where auction_id = ${auction} and seq = s)
				order by s limit ${limit}`
			return rows.map((r) => Number(r.seq))
		},

		async ping() {
			await sql`select 1`
		},

		async close() {
			await sql.end({ timeout: 5 })
		},
	} satisfies Archive
	return Object.assign(archive, {
		kind: 'postgres' as const,
		sql,
		/** Applies missing migrations (see migrate.ts); safe to call from many processes at once. */
		migrate: () => (options.migrationUrl ? migrateAs(options.migrationUrl, options.caFile, options.connection) : migrate(sql)),
	})
}

interface AuctionRow {
	id: string
	title: string | null
	seller_id: string | null
	currency: string | null
	starting_price: string | null
	status: 'open' | 'closed'
	price: string | null
	leader: string | null
	reserve_met: boolean | null
	ends_at_ms: string | null
	winner: string | null
	bid_count: string
	event_count: string
	last_seq: string
}

interface ProgressRow {
	id: string
	last_seq: string
	event_count: string
	closed: boolean
}

const toEvent = (r: { seq: string; json: string }): ArchivedEvent => ({ seq: Number(r.seq), json: r.json })
const toProgress = (r: ProgressRow): ArchiveProgress => ({
	id: r.id,
	lastSeq: Number(r.last_seq),
	eventCount: Number(r.event_count),
	closed: r.closed,
})

export type PostgresArchive = ReturnType<typeof createPostgresArchive>

/** Applies the migrations over a connection of their own, as the owner, closed once they are done. */
async function migrateAs(url: string, caFile: string | undefined, connection: Record<string, string> | undefined): Promise<number[]> {
	const tls = postgresTls(url, undefined, caFile)
	const owner = postgres(tls.url, { ...(tls.ssl ? { ssl: tls.ssl } : {}), max: 1, connection, connect_timeout: 10, onnotice: () => {} })
	try {
		return await migrate(owner)
	} finally {
		await owner.end({ timeout: 5 })
	}
}
