import { Database, type SQLQueryBindings } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
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
import init from './migrations/001_init.sql' with { type: 'text' }
import states from './migrations/002_states.sql' with { type: 'text' }
import { sqliteStates } from './states.ts'

/** The embedded archive's own migrations (same tables as Postgres, SQLite types). */
export const SQLITE_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
	{ version: 1, name: '001_init', sql: init },
	{ version: 2, name: '002_states', sql: states },
]

export interface SqliteArchiveOptions {
	/** The database file (`<DATA_DIR>/archive.sqlite`), or ':memory:'. */
	path: string
	now?: () => number
}

const NO_SEQ = Number.MAX_SAFE_INTEGER

/**
 * createSqliteArchive is the embedded archive: a `bun:sqlite` file in WAL mode (readers never
 * wait for the writer, so history pages stay fast while the archiver writes), one transaction
 * per batch. It follows the Postgres adapter's rules exactly; the contract suite checks it.
 */
export function createSqliteArchive(options: SqliteArchiveOptions) {
	const now = options.now ?? Date.now
	if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true })
	const db = new Database(options.path, { create: true, strict: true })
	db.run('pragma busy_timeout = 5000') // the archiver Worker and the history reader share the file
	db.run('pragma journal_mode = wal')
	db.run('pragma synchronous = normal') // WAL + normal: a commit survives a process crash
	const applied = migrateSqlite(db)

	const insertEvent = db.prepare(`
		insert into bid_events (event_id, auction_id, seq, type, at_ms, bidder, amount, price, leader, proxy, ends_at_ms, reserve_met, winner, payload)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		on conflict do nothing`)
	// Asked only about a skipped event: a duplicate (its id is archived) or a seq conflict.
	const seqHolder = db.prepare<{ id: string; json: string }, [string, number]>(
		'select event_id as id, payload as json from bid_events where auction_id = ? and seq = ?',
	)
	const idArchived = db.prepare<{ one: number }, [string]>('select 1 as one from bid_events where event_id = ?')
	// Mirrors the Postgres upsert: settings fill in once, bid state only moves forward by seq.
	const upsertAuction = db.prepare(`
		insert into auctions (id, title, seller_id, currency, starting_price, increment, buy_now_price, soft_close_ms,
			starts_at_ms, max_ends_at_ms, created_at_ms, ends_at_ms, price, leader, reserve_met, bid_seq, status, winner,
			closed_at_ms, bid_count, event_count, last_seq, updated_at_ms)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		on conflict (id) do update set
			title = coalesce(title, excluded.title),
			seller_id = coalesce(seller_id, excluded.seller_id),
			currency = coalesce(currency, excluded.currency),
			starting_price = coalesce(starting_price, excluded.starting_price),
			increment = coalesce(increment, excluded.increment),
			buy_now_price = coalesce(buy_now_price, excluded.buy_now_price),
			soft_close_ms = coalesce(soft_close_ms, excluded.soft_close_ms),
			starts_at_ms = coalesce(starts_at_ms, excluded.starts_at_ms),
			max_ends_at_ms = coalesce(max_ends_at_ms, excluded.max_ends_at_ms),
			created_at_ms = coalesce(created_at_ms, excluded.created_at_ms),
			ends_at_ms = case when excluded.bid_seq > bid_seq then excluded.ends_at_ms else coalesce(ends_at_ms, excluded.ends_at_ms) end,
			price = case when excluded.bid_seq > bid_seq then excluded.price else price end,
			leader = case when excluded.bid_seq > bid_seq then excluded.leader else leader end,
			reserve_met = case when excluded.bid_seq > bid_seq then excluded.reserve_met else coalesce(reserve_met, excluded.reserve_met) end,
			bid_seq = max(bid_seq, excluded.bid_seq),
			status = case when excluded.status = 'closed' then 'closed' else status end,
			winner = case when excluded.status = 'closed' then excluded.winner else winner end,
			closed_at_ms = coalesce(closed_at_ms, excluded.closed_at_ms),
			bid_count = bid_count + excluded.bid_count,
			event_count = event_count + excluded.event_count,
			last_seq = max(last_seq, excluded.last_seq),
			updated_at_ms = excluded.updated_at_ms`)

	const writeBatch = db.transaction((events: readonly ArchiveEvent[]): WriteResult => {
		const touched = new Map<string, Touched>()
		const conflicts: SeqConflict[] = []
		let written = 0
		for (const item of events) {
			const { event: e, json } = item
			const bid = e.type === 'bid.placed' ? e : null
			const { changes } = insertEvent.run(
				e.id,
				e.auction,
				e.seq,
				e.type,
				e.at,
				bid?.bidder ?? null,
				bid?.amount ?? null,
				e.type === 'auction.created' ? null : e.price,
				bid?.leader ?? null,
				bid ? Number(bid.proxy) : null,
				bid?.endsAt ?? null,
				Number(e.reserveMet),
				e.type === 'auction.closed' ? e.winner : null,
				json,
			)
			if (changes === 0) {
				const holder = seqHolder.get(e.auction, e.seq)
				if (holder && holder.id !== e.id && !idArchived.get(e.id))
					conflicts.push({ auction: e.auction, seq: e.seq, stored: { id: holder.id, json: holder.json }, incoming: item })
				continue
			}
			written++
			// Fold only what was new into the auction row, as the Postgres statement does.
			let t = touched.get(e.auction)
			if (!t) touched.set(e.auction, (t = { events: 0, bids: 0, lastSeq: -1, created: null, lastBid: null, closed: null }))
			t.events++
			t.lastSeq = Math.max(t.lastSeq, e.seq)
			if (e.type === 'auction.created') t.created = e
			else if (e.type === 'auction.closed') t.closed = e
			else {
				t.bids++
				if (!t.lastBid || e.seq > t.lastBid.seq) t.lastBid = e
			}
		}
		const at = now()
		for (const [id, t] of [...touched].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
			const c = t.created
			const b = t.lastBid
			upsertAuction.run(
				id,
				c?.title ?? null,
				c?.sellerId ?? null,
				c?.currency ?? null,
				c?.startingPrice ?? null,
				c ? JSON.stringify(c.increment) : null,
				c?.buyNowPrice ?? null,
				c?.softCloseMs ?? null,
				c?.startsAt ?? null,
				c?.maxEndsAt ?? null,
				c?.at ?? null,
				b?.endsAt ?? c?.endsAt ?? null,
				b?.price ?? null,
				b?.leader ?? null,
				b ? Number(b.reserveMet) : c ? Number(c.reserveMet) : null,
				b?.seq ?? -1,
				t.closed ? 'closed' : 'open',
				t.closed?.winner ?? null,
				t.closed?.at ?? null,
				t.bids,
				t.events,
				t.lastSeq,
				at,
			)
		}
		return { written, conflicts }
	})

	const history = {
		desc: db.prepare<EventRow, [string, number, number]>(
			`select seq, payload as json from bid_events where auction_id = ? and type = 'bid.placed' and seq < ? order by seq desc limit ?`,
		),
		asc: db.prepare<EventRow, [string, number, number]>(
			`select seq, payload as json from bid_events where auction_id = ? and type = 'bid.placed' and seq > ? order by seq limit ?`,
		),
	}
	const exists = db.prepare<{ one: number }, [string]>('select 1 as one from auctions where id = ?')
	const eventsAfter = db.prepare<EventRow, [string, number, number]>(
		'select seq, payload as json from bid_events where auction_id = ? and seq > ? order by seq limit ?',
	)
	const auctionRow = db.prepare<AuctionRow, [string]>(`
		select id, title, seller_id, currency, starting_price, status, price, leader, reserve_met, ends_at_ms, winner,
			bid_count, event_count, last_seq
		from auctions where id = ?`)
	const unsettled = db.prepare<ProgressRow, [string, number]>(`
		select id, last_seq, event_count, status = 'closed' as closed from auctions
		where (status <> 'closed' or event_count <> last_seq + 1) and id > ? order by id limit ?`)
	const seqsFrom = db.prepare<{ seq: number }, [string, number, number]>(
		'select seq from bid_events where auction_id = ? and seq >= ? and seq <= ? order by seq',
	)

	const archive = {
		...sqliteStates(db),
		async write<E extends ArchiveEvent>(events: readonly E[]): Promise<WriteResult<E>> {
			if (events.length === 0) return { written: 0, conflicts: [] }
			try {
				// The conflicts' `incoming` are elements of `events`, so they are E.
				return writeBatch(events) as WriteResult<E>
			} catch (err) {
				throw dataError(err)
			}
		},

		async bids(auction: string, { order, after, limit }: HistoryQuery) {
			const rows = order === 'desc' ? history.desc.all(auction, after ?? NO_SEQ, limit) : history.asc.all(auction, after ?? -1, limit)
			if (rows.length === 0 && !exists.get(auction)) return null
			return rows as ArchivedEvent[]
		},

		async events(auction: string, after: number, limit: number) {
			return eventsAfter.all(auction, after, limit) as ArchivedEvent[]
		},

		async auction(id: string): Promise<ArchivedAuction | null> {
			const row = auctionRow.get(id)
			if (!row) return null
			return {
				id: row.id,
				title: row.title,
				sellerId: row.seller_id,
				currency: row.currency,
				startingPrice: row.starting_price,
				status: row.status,
				price: row.price,
				leader: row.leader,
				reserveMet: row.reserve_met === null ? null : row.reserve_met === 1,
				endsAt: row.ends_at_ms,
				winner: row.winner,
				bidCount: row.bid_count,
				eventCount: row.event_count,
				lastSeq: row.last_seq,
			}
		},

		async unsettled(after: string, limit: number) {
			return unsettled.all(after, limit).map(toProgress)
		},

		async progress(ids: readonly string[]) {
			if (ids.length === 0) return []
			const rows = db
				.query<ProgressRow, string[]>(
					`select id, last_seq, event_count, status = 'closed' as closed from auctions where id in (${ids.map(() => '?').join(',')})`,
				)
				.all(...ids)
			return rows.map(toProgress)
		},

		async missingSeqs(auction: string, upTo: number, limit: number) {
			const missing: number[] = []
			let expected = 0
			for (const { seq } of seqsFrom.iterate(auction, 0, upTo)) {
				while (expected < seq && missing.length < limit) missing.push(expected++)
				if (missing.length >= limit) return missing
				expected = seq + 1
			}
			while (expected <= upTo && missing.length < limit) missing.push(expected++)
			return missing
		},

		async ping() {
			db.query('select 1').get()
		},

		async close() {
			db.close()
		},
	} satisfies Archive
	return Object.assign(archive, {
		kind: 'sqlite' as const,
		/** Migrations already ran when the file was opened; this reports what that applied. */
		migrate: async () => applied,
	})
}

/**
 * migrateSqlite applies the embedded archive's migrations in one immediate transaction, which
 * SQLite serialises across connections: the archiver Worker and the history reader may both
 * open the file at start and each migration still runs once.
 */
export function migrateSqlite(db: Database): number[] {
	return db
		.transaction(() => {
			db.run(`create table if not exists gavel_migrations (
				version integer primary key,
				name text not null,
				applied_at_ms integer not null
			) strict`)
			const done = new Set(db.query<{ version: number }, []>('select version from gavel_migrations').all().map((r) => r.version))
			const applied: number[] = []
			for (const m of SQLITE_MIGRATIONS) {
				if (done.has(m.version)) continue
				db.run(m.sql)
				db.run('insert into gavel_migrations (version, name, applied_at_ms) values (?, ?, ?)', [m.version, m.name, Date.now()] as SQLQueryBindings[])
				applied.push(m.version)
			}
			return applied
		})
		.immediate()
}

/** Constraint and type errors are the batch's fault; busy, I/O and full-disk errors are not. */
function dataError(err: unknown): unknown {
	const code = (err as { code?: unknown })?.code
	if (typeof code === 'string' && /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code))
		return new ArchiveDataError(`the archive refused the batch: ${(err as Error).message}`, { cause: err })
	return err
}

interface Touched {
	events: number
	bids: number
	lastSeq: number
	created: Extract<ArchiveEvent['event'], { type: 'auction.created' }> | null
	lastBid: Extract<ArchiveEvent['event'], { type: 'bid.placed' }> | null
	closed: Extract<ArchiveEvent['event'], { type: 'auction.closed' }> | null
}

interface EventRow {
	seq: number
	json: string
}

interface AuctionRow {
	id: string
	title: string | null
	seller_id: string | null
	currency: string | null
	starting_price: number | null
	status: 'open' | 'closed'
	price: number | null
	leader: string | null
	reserve_met: number | null
	ends_at_ms: number | null
	winner: string | null
	bid_count: number
	event_count: number
	last_seq: number
}

interface ProgressRow {
	id: string
	last_seq: number
	event_count: number
	closed: number
}

const toProgress = (r: ProgressRow): ArchiveProgress => ({
	id: r.id,
	lastSeq: r.last_seq,
	eventCount: r.event_count,
	closed: r.closed === 1,
})

export type SqliteArchive = ReturnType<typeof createSqliteArchive>
