import { Database } from 'bun:sqlite'
import Redis, { Cluster } from 'ioredis'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Sql } from 'postgres'
import { auctionKeys } from '../../src/adapters/redis/keys.ts'
import type { AuctionRecord, AuctionView } from '../../src/domain/auction.ts'
import { parseStateRecord, type StateRecord } from '../../src/domain/state-record.ts'
import type { GavelEvent } from '../../src/events.ts'
import type { ArchivedEvent, StoreRead } from './checks.ts'
import type { Stack } from './stack.ts'

/**
 * What the checks look at after the traffic, read from outside gavel: the archive (Postgres
 * directly, not through the run's proxy; embedded: the SQLite file, read-only), the store
 * through the API (and, on Redis, the private fields of each auction's hash), the dead-letter
 * stream, and gavel's own log lines.
 */

interface Row {
	id: string
	auction: string
	seq: number | string
	type: GavelEvent['type']
	payload: string
}

/** The archive's events by auction, in seq order, and its newest state record of each. */
export async function readArchive(stack: Stack): Promise<{ events: Map<string, ArchivedEvent[]>; states: Map<string, StateRecord> }> {
	let rows: Row[]
	let stateRows: Array<{ record: string }>
	if (stack.postgres) {
		const sql: Sql = stack.postgres.sql
		rows = await sql.unsafe<Row[]>(`select event_id::text as id, auction_id as auction, seq, type, payload::text as payload from bid_events order by auction_id, seq`)
		stateRows = await sql.unsafe<Array<{ record: string }>>(`select record::text as record from auction_states`)
	} else {
		const db = new Database(stack.sqlitePath!, { readonly: true })
		try {
			rows = db.query<Row, []>(`select event_id as id, auction_id as auction, seq, type, payload from bid_events order by auction_id, seq`).all()
			stateRows = db.query<{ record: string }, []>(`select record from auction_states`).all()
		} finally {
			db.close()
		}
	}
	const events = new Map<string, ArchivedEvent[]>()
	for (const r of rows) {
		const list = events.get(r.auction) ?? []
		list.push({ id: r.id, seq: Number(r.seq), type: r.type, payload: r.payload, event: JSON.parse(r.payload) as GavelEvent })
		events.set(r.auction, list)
	}
	const states = new Map<string, StateRecord>()
	for (const { record } of stateRows) {
		const s = parseStateRecord(record)
		states.set(s.auction, s)
	}
	return { events, states }
}

/** Progress of the archive per auction: the highest seq archived, and whether its close is (for waiting until it caught up). */
export async function archiveProgress(stack: Stack): Promise<Map<string, { seq: number; closed: boolean }>> {
	let rows: Array<{ auction: string; seq: number | string; closed: boolean | number }>
	if (stack.postgres)
		rows = await stack.postgres.sql.unsafe(`select auction_id as auction, max(seq) as seq, bool_or(type = 'auction.closed') as closed from bid_events group by auction_id`)
	else {
		const db = new Database(stack.sqlitePath!, { readonly: true })
		try {
			rows = db
				.query<{ auction: string; seq: number; closed: number }, []>(`select auction_id as auction, max(seq) as seq, max(type = 'auction.closed') as closed from bid_events group by auction_id`)
				.all()
		} finally {
			db.close()
		}
	}
	return new Map(rows.map((r) => [r.auction, { seq: Number(r.seq), closed: Boolean(r.closed) }]))
}

/** GET /auctions/:id for each id, as the checks compare it. */
export async function readStore(apiUrl: string, ids: readonly string[]): Promise<Map<string, StoreRead>> {
	const out = new Map<string, StoreRead>()
	await Promise.all(
		ids.map(async (id) => {
			const at = Date.now()
			try {
				const res = await fetch(`${apiUrl}/auctions/${id}`, { signal: AbortSignal.timeout(10_000) })
				out.set(id, res.status === 200 ? { status: 200, view: (await res.json()) as AuctionView, at } : { status: res.status, at })
			} catch {
				out.set(id, { status: 0, at })
			}
		}),
	)
	return out
}

/** Every id GET /auctions lists, page by page. */
export async function readListing(apiUrl: string): Promise<Set<string>> {
	const ids = new Set<string>()
	let cursor: string | null = null
	for (let page = 0; page < 100; page++) {
		const url = new URL('/auctions', apiUrl)
		url.searchParams.set('limit', '200')
		if (cursor) url.searchParams.set('cursor', cursor)
		const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
		if (res.status !== 200) break
		const body = (await res.json()) as { items: Array<{ id: string }>; nextCursor: string | null }
		for (const item of body.items) ids.add(item.id)
		cursor = body.nextCursor
		if (!cursor) break
	}
	return ids
}

/** The private fields of each auction in Redis (the NATS and cluster stacks' store), read from its hash. */
export async function readHidden(stack: Stack, ids: readonly string[]): Promise<Map<string, Pick<AuctionRecord, 'leaderMax' | 'reservePrice'>> | null> {
	let redis: Redis | Cluster
	if (stack.redis) redis = new Redis(stack.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
	else if (stack.redisCluster)
		redis = new Cluster(
			stack.redisCluster.nodes.map((n) => ({ host: n.host, port: n.port })),
			{ lazyConnect: true, slotsRefreshTimeout: 2_000, redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: 1 } },
		)
	else return null
	await redis.connect()
	try {
		const out = new Map<string, Pick<AuctionRecord, 'leaderMax' | 'reservePrice'>>()
		const num = (v: string | null) => (v === null || v === '' ? null : Number(v))
		for (const id of ids) {
			const [leaderMax, reservePrice, known] = await redis.hmget(auctionKeys(stack.runId, id).state, 'leaderMax', 'reservePrice', 'id')
			if (known) out.set(id, { leaderMax: num(leaderMax ?? null), reservePrice: num(reservePrice ?? null) })
		}
		return out
	} finally {
		redis.disconnect()
	}
}

/** Messages in the dead-letter stream (NATS stack), and whether the archivers' consumer is drained. */
export async function natsState(stack: Stack): Promise<{ deadLetters: number; pending: number } | null> {
	if (!stack.natsUrl) return null
	const nc = await connect({ servers: stack.natsUrl.split(','), timeout: 3_000 })
	try {
		const jsm = await jetstreamManager(nc)
		const deadLetters = await jsm.streams.info(stack.env.NATS_DLQ_STREAM!).then(
			(i) => i.state.messages,
			() => 0, // created with the first dead letter
		)
		const pending = await jsm.consumers.info(stack.env.NATS_STREAM!, stack.env.ARCHIVE_CONSUMER ?? 'gavel-archiver').then(
			(c) => c.num_pending + c.num_ack_pending,
			() => -1,
		)
		return { deadLetters, pending }
	} finally {
		await nc.close()
	}
}

/** gavel's log lines that say an event was lost or refused: dead letters, seq conflicts, what crash repair gave up on. */
export function problemLogs(stack: Stack): Array<{ process: string; msg: string; at: number | null }> {
	const out: Array<{ process: string; msg: string; at: number | null }> = []
	for (const [name, p] of stack.processes)
		for (const line of p.logs()) {
			const msg = String(line.msg ?? '')
			const level = Number(line.level ?? 0)
			const lost = msg.startsWith('dead letter') || (line.component === 'repair' && level >= 50) || /seq conflict|took these seqs|already archived/.test(msg)
			if (lost) out.push({ process: name, msg: `${msg} ${JSON.stringify({ auction: line.auction, seqs: line.seqs, reason: line.reason, error: line.error })}`, at: typeof line.time === 'number' ? line.time : null })
		}
	return out
}

/** Every log line at warn or above, per process, with its error's message (for the JSON report: what gavel said during the faults). */
export function warnings(stack: Stack): Record<string, Array<{ at: number | null; level: number; msg: string; error?: string; where?: string[] }>> {
	const out: Record<string, Array<{ at: number | null; level: number; msg: string; error?: string; where?: string[] }>> = {}
	for (const [name, p] of stack.processes)
		out[name] = p
			.logs()
			.filter((l) => Number(l.level ?? 0) >= 40)
			.map((l) => {
				const err = (l.err ?? l.error) as { message?: unknown; stack?: unknown } | string | undefined
				const error = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : undefined
				// An error (level 50 and up) keeps the top of its stack: where a 500 came from.
				const where = Number(l.level) >= 50 && typeof err === 'object' && typeof err.stack === 'string' ? err.stack.split('\n').slice(1, 7).map((f) => f.trim()) : undefined
				return { at: typeof l.time === 'number' ? l.time : null, level: Number(l.level), msg: String(l.msg ?? ''), ...(error ? { error } : {}), ...(where ? { where } : {}) }
			})
	return out
}
