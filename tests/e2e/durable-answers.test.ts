// A 201 is sent only once its commit is in the log (docs/design.md §6): the events and the private
// state record. Checked right after each answer, with no waiting, on both stacks; and when the log
// cannot take it in time, the answer says the outcome is unknown and a retry with the same
// Idempotency-Key tells it.
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { parseStateRecord } from '../../src/domain/state-record.ts'
import { STATE_HEADER } from '../../src/adapters/nats/subjects.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { connectNats, connectPostgres, NATS_URL } from '../helpers/services.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { until } from '../helpers/archive.ts'

const started: TestGavel[] = []
afterAll(async () => {
	for (const g of started) await g.stop()
})

async function gavelWithAuction(options: Parameters<typeof startTestGavel>[0]) {
	const g = await startTestGavel(options)
	started.push(g)
	const seller = await g.token('sam', ['seller'])
	const created = await fetch(`${g.url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
		body: JSON.stringify(auctionBody({ reservePrice: 5000 })),
	})
	expect(created.status).toBe(201)
	const { id } = (await created.json()) as { id: string }
	const bid = async (who: string, amount: number, maxAmount?: number, key?: string) =>
		fetch(`${g.url}/auctions/${id}/bids`, {
			method: 'POST',
			headers: { authorization: `Bearer ${await g.token(who)}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
			body: JSON.stringify({ amount, maxAmount }),
		})
	return { g, id, bid }
}

describe('a 201 means the commit is in the log', () => {
	test('embedded: the SQLite archive holds the event and the state record, hidden maximum included, when the answer arrives', async () => {
		const { g, id, bid } = await gavelWithAuction({})
		const db = new Database(join(g.env.DATA_DIR!, 'archive.sqlite'), { readonly: true })
		try {
			for (const [who, amount, max, seq] of [['bob', 1000, 3000, 1], ['carol', 2000, undefined, 2], ['bob', 2200, 7000, 3]] as const) {
				const res = await bid(who, amount, max)
				expect(res.status).toBe(201)
				// No wait: the answer came after the commit.
				const row = db.query<{ n: number }, [string, number]>('select count(*) as n from bid_events where auction_id = ? and seq = ?').get(id, seq)
				expect(row?.n).toBe(1)
			}
			const state = db.query<{ rev: number; record: string }, [string]>('select rev, record from auction_states where auction_id = ?').get(id)
			expect(state?.rev).toBe(3)
			// bob's raise to 7000 is in the log, hidden maximum and all (it reached the reserve: the price moved to it).
			expect(parseStateRecord(state!.record).record).toMatchObject({ leader: 'bob', leaderMax: 7000, reservePrice: 5000, price: 5000 })
		} finally {
			db.close()
		}
	})

	test('Redis + NATS + Postgres: JetStream holds the state record, in the message of the bid event, when the answer arrives; the archive keeps it privately', async () => {
		const { g, id, bid } = await gavelWithAuction({ real: true, postgres: true })
		expect((await bid('bob', 1000, 4000)).status).toBe(201)
		const nc = await connectNats()
		try {
			const jsm = await jetstreamManager(nc)
			// One message per commit: the event as its payload, the commit's state record in a header.
			const last = await jsm.streams.getMessage(g.env.NATS_STREAM!, { last_by_subj: `${g.env.NATS_SUBJECT_PREFIX}.${id}` })
			expect(last!.json<{ type: string; seq: number }>()).toMatchObject({ type: 'bid.placed', seq: 1 })
			expect(parseStateRecord(last!.header.get(STATE_HEADER)).record).toMatchObject({ leader: 'bob', leaderMax: 4000, seq: 1 })
			expect(await jsm.streams.getMessage(g.env.NATS_STREAM!, { last_by_subj: `${g.env.NATS_SUBJECT_PREFIX}.${id}.state` }).catch(() => null)).toBeNull()
		} finally {
			await nc.close()
		}
		const sql = await connectPostgres(g.env.DATABASE_URL)
		try {
			await until(async () => (await sql`select 1 from auction_states where auction_id = ${id} and rev = 1`.catch(() => [])).length === 1, 'the state archived')
		} finally {
			await sql.end({ timeout: 5 })
		}
		const metrics = await (await fetch(`${g.url}/metrics`)).text()
		expect(metrics).not.toMatch(/gavel_archive_dead_letters_total\{[^}]*\} [1-9]/)
		// Never public: the history and the events carry no maximum.
		expect(await (await fetch(`${g.url}/auctions/${id}/bids`)).text()).not.toContain('4000')
	})

	test('when the log cannot take it in time: 503 OUTCOME_UNKNOWN with Retry-After; the same key afterwards tells the outcome', async () => {
		const nats = new URL(NATS_URL)
		const proxy = await startTcpProxy({ host: nats.hostname, port: Number(nats.port || 4222) })
		let g: TestGavel | undefined
		try {
			const made = await gavelWithAuction({ real: true, env: { NATS_URL: `nats://127.0.0.1:${proxy.port}`, DURABLE_WAIT_MS: '300' } })
			g = made.g
			const { bid } = made
			expect((await bid('bob', 1000)).status).toBe(201)
			await proxy.close()
			const unknown = await bid('carol', 1500, undefined, 'carol-1')
			expect(unknown.status).toBe(503)
			expect(unknown.headers.get('retry-after')).toBe('1')
			const { error } = (await unknown.json()) as { error: { code: string; message: string } }
			expect(error.code).toBe('OUTCOME_UNKNOWN')
			expect(error.message).toContain('same Idempotency-Key')
			await proxy.open()
			// The store took it: the retry replays that answer and places nothing new.
			let retried: Response | undefined
			await until(async () => (retried = await bid('carol', 1500, undefined, 'carol-1')).status === 201, 'a 201 once NATS is back')
			expect(retried!.headers.get('idempotent-replayed')).toBe('true')
			expect(((await retried!.json()) as { bid: { seq: number } }).bid.seq).toBe(2)
		} finally {
			// Stopped while NATS is reachable: a stop flushes what the bus still holds.
			await proxy.open().catch(() => {})
			if (g) {
				started.splice(started.indexOf(g), 1)
				await g.stop()
			}
			await proxy.close()
		}
	})
})
