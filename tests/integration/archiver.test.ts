import { describe, expect, test } from 'bun:test'
import pino from 'pino'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Sql } from 'postgres'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { runArchiver } from '../../workers/archiver/run.ts'
import { auctionEvents, rival, stateOf } from '../contract/archive.ts'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { NATS_URL } from '../helpers/services.ts'
import { archiverSuite, consumerState, publishEvents, publishRaw, reports, testArchiverSettings, until, untilConsuming } from '../helpers/archive.ts'
import { connectPostgres, createTestSchema, type TestSchema } from '../helpers/services.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const suite = archiverSuite()
const { schemas, streams } = suite

/** A schema, stream and consumer of its own, a direct SQL connection to check what landed. */
async function setup(overrides: Parameters<typeof testArchiverSettings>[0] = {}, existing?: TestSchema) {
	const schema = existing ?? (await createTestSchema())
	if (!existing) schemas.push(schema)
	const settings = testArchiverSettings({ databaseUrl: schema.url, ...overrides })
	streams.push(settings.stream, settings.dlqStream)
	const sql = await connectPostgres(schema.url)
	const count = async () => {
		try {
			return Number((await sql`select count(*) as n from bid_events`)[0]!.n)
		} catch {
			return 0 // tables not created yet
		}
	}
	return { schema, settings, sql, count }
}

/** setup() plus gavel's NATS bus publishing into the stream and an archiver consuming it; all closed after `run`. */
async function withBusAndArchiver(
	overrides: Parameters<typeof testArchiverSettings>[0],
	run: (ctx: Awaited<ReturnType<typeof setup>> & { bus: Awaited<ReturnType<typeof createNatsEventBus>> }) => Promise<void>,
) {
	const ctx = await setup(overrides)
	const bus = await createNatsEventBus({ url: NATS_URL, stream: ctx.settings.stream, subjectPrefix: ctx.settings.subjectPrefix, log: silentLogger() })
	const archiver = runArchiver(ctx.settings, { log: silentLogger(), report: reports().add })
	try {
		await untilConsuming(suite.nc, ctx.settings)
		await run({ ...ctx, bus })
	} finally {
		await archiver.stop()
		await bus.close()
		await ctx.sql.end()
	}
}

/** `n` auctions of `perAuction` events each (created, then bids), as JSON. */
function manyEvents(auctions: number, perAuction: number) {
	return Array.from({ length: auctions }, () => {
		const a = auctionEvents()
		return [a.created().json, ...Array.from({ length: perAuction - 1 }, (_, i) => a.bid(`u${i % 13}`, 1000 + i * 10).json)]
	})
}

/** Interleaves auctions' events the way concurrent bidding does, keeping each auction's order. */
const interleave = (lists: string[][]) => {
	const out: string[] = []
	for (let i = 0; lists.some((l) => i < l.length); i++) for (const l of lists) if (i < l.length) out.push(l[i]!)
	return out
}

async function expectDenseAuctions(sql: Sql, auctions: number, lastSeq: number) {
	const rows = await sql`
		select count(*) as n, min(last_seq) as lo, max(last_seq) as hi,
			count(*) filter (where event_count <> last_seq + 1) as holed
		from auctions`
	expect(rows.map((r) => ({ ...r }))).toEqual([{ n: String(auctions), lo: String(lastSeq), hi: String(lastSeq), holed: '0' }])
}

describe('archiver: JetStream → Postgres', () => {
	test('archives 50,000 events exactly, content verbatim; a redelivered batch writes no duplicate', async () => {
		const { settings, sql, count } = await setup()
		const r = reports()
		const archiver = runArchiver(settings, { log: silentLogger(), report: r.add })
		await untilConsuming(suite.nc, settings)
		const lists = manyEvents(100, 500)
		const all = interleave(lists)
		expect(all.length).toBe(50_000)
		await publishEvents(suite.nc, settings.subjectPrefix, all)
		await until(async () => (await count()) === 50_000, '50,000 events archived', 60_000)

		const stored = await sql<{ id: string; payload: string }[]>`select event_id::text as id, payload::text as payload from bid_events`
		const sent = new Map(all.map((json) => [JSON.parse(json).id as string, json]))
		expect(stored.length).toBe(50_000)
		expect(stored.every((row) => sent.get(row.id) === row.payload)).toBe(true)
		await expectDenseAuctions(sql, 100, 499)
		const sums = await sql`select sum(event_count) as events, sum(bid_count) as bids from auctions`
		expect({ ...sums[0] }).toEqual({ events: '50000', bids: '49900' })

		// The same events again under new message ids (as after JetStream's dedup window).
		await publishEvents(suite.nc, settings.subjectPrefix, all.slice(10_000, 12_000), ':again')
		await until(async () => {
			const s = await consumerState(suite.nc, settings.stream, settings.consumer)
			return s.pending === 0 && s.ackPending === 0
		}, 'the redelivered events acked')
		expect(await count()).toBe(50_000)
		expect({ ...(await sql`select sum(event_count) as events, sum(bid_count) as bids from auctions`)[0] }).toEqual({
			events: '50000',
			bids: '49900',
		})
		await archiver.stop()
		expect(r.written).toBe(50_000)
		expect(r.last).toMatchObject({ lagEvents: 0, lagSeconds: 0, healthy: true })
		expect(Math.max(...r.all.flatMap((x) => x.batches.map(([size]) => size)))).toBeLessThanOrEqual(settings.batchMax)
		await sql.end()
	}, 90_000)

	test('undecodable, schema-invalid and archive-refused events go to the dead-letter stream; the rest are archived', async () => {
		const { settings, sql, count } = await setup()
		const r = reports()
		const archiver = runArchiver(settings, { log: silentLogger(), report: r.add })
		await untilConsuming(suite.nc, settings)
		const a = auctionEvents()
		const before = [a.created(), a.bid('bob', 1000), a.bid('carol', 1100)]
		const refused = a.bid('nul\u0000bidder', 1200) // valid JSON and schema; Postgres text cannot hold NUL
		const after = [a.bid('bob', 1300), a.bid('carol', 1400)]
		await publishEvents(suite.nc, settings.subjectPrefix, before.map((e) => e.json))
		await publishRaw(suite.nc, `${settings.subjectPrefix}.${a.auction}`, 'not json {')
		await publishRaw(suite.nc, `${settings.subjectPrefix}.${a.auction}`, JSON.stringify({ id: 'x', type: 'bid.placed', auction: a.auction }))
		await publishEvents(suite.nc, settings.subjectPrefix, [refused.json, ...after.map((e) => e.json)])

		await until(async () => (await count()) === 5, 'the five good events archived')
		const jsm = await jetstreamManager(suite.nc)
		await until(async () => (await jsm.streams.info(settings.dlqStream)).state.messages === 3, 'three dead letters')
		const letters = await Promise.all([1, 2, 3].map((seq) => jsm.streams.getMessage(settings.dlqStream, { seq })))
		expect(letters.map((m) => m!.header.get('Gavel-Dlq-Reason'))).toEqual(['undecodable', 'invalid', 'rejected'])
		expect(letters[0]!.string()).toBe('not json {')
		expect(letters[1]!.header.get('Gavel-Dlq-Error')).toContain('/')
		expect(letters[2]!.string()).toBe(refused.json)
		expect(letters[2]!.header.get('Gavel-Source-Stream')).toBe(settings.stream)
		expect(letters[2]!.subject).toBe(`${settings.dlqStream}.${settings.stream}`)

		const seqs = await sql<{ seq: string }[]>`select seq from bid_events order by seq`
		expect(seqs.map((s) => Number(s.seq))).toEqual([0, 1, 2, 4, 5])
		await until(async () => {
			const s = await consumerState(suite.nc, settings.stream, settings.consumer)
			return s.pending === 0 && s.ackPending === 0
		}, 'every message settled')
		await until(() => r.deadLetters('undecodable') + r.deadLetters('invalid') + r.deadLetters('rejected') === 3, 'dead letters reported')
		await archiver.stop()
		await sql.end()
	}, 30_000)

	test("one message per commit: an event carrying its state record is archived as both, and acked once both are stored", async () => {
		await withBusAndArchiver({}, async ({ settings, sql, count, bus }) => {
			const a = auctionEvents()
			const commits = [a.created(), a.bid('bob', 1000), a.bid('carol', 1100)].map((e, rev) => ({ ...e, state: stateOf(a.auction, rev).json }))
			await Promise.all(commits.map((c) => bus.publish(a.auction, c.event.id, c.json, c.state)))
			const jsm = await jetstreamManager(suite.nc)
			expect((await jsm.streams.info(settings.stream)).state.messages).toBe(3) // one message each, not six
			await until(async () => (await count()) === 3, 'the three events archived')
			await until(async () => (await sql`select rev from auction_states where auction_id = ${a.auction}`.catch(() => [])).length === 1, 'the state archived')
			expect((await sql`select rev from auction_states where auction_id = ${a.auction}`)[0]!.rev).toBe('2') // the newest rev is the state
			await until(async () => {
				const s = await consumerState(suite.nc, settings.stream, settings.consumer)
				return s.pending === 0 && s.ackPending === 0 && s.redelivered === 0
			}, 'every message acked once')
		})
	}, 30_000)

	test("a commit's message is not acked while its state record is not stored, even with its event archived (one-entry batches)", async () => {
		await withBusAndArchiver({ batchMax: 1 }, async ({ settings, sql, count, bus }) => {
			await until(async () => (await sql`select 1 from auction_states`.catch(() => null)) !== null, 'the tables created')
			await sql`alter table auction_states rename to auction_states_away` // the state's write fails (and is retried)
			const a = auctionEvents()
			const created = a.created()
			await bus.publish(a.auction, created.event.id, created.json, stateOf(a.auction, 0).json)
			await until(async () => (await count()) === 1, 'the event archived')
			await Bun.sleep(300)
			expect(await consumerState(suite.nc, settings.stream, settings.consumer)).toMatchObject({ pending: 0, ackPending: 1 })
			await sql`alter table auction_states_away rename to auction_states`
			await until(async () => (await sql`select 1 from auction_states where auction_id = ${a.auction}`).length === 1, 'the state archived')
			await until(async () => (await consumerState(suite.nc, settings.stream, settings.consumer)).ackPending === 0, 'the message acked')
		})
	}, 30_000)

	test("a commit's state record the archive refuses is dead-lettered on its own (its body, part `state`); its event is archived, the message settled", async () => {
		await withBusAndArchiver({}, async ({ settings, count, bus }) => {
			const a = auctionEvents()
			const created = a.created()
			const broken = JSON.stringify({ auction: a.auction, rev: 'zero' }) // fails the state record's schema
			await bus.publish(a.auction, created.event.id, created.json, broken)
			await until(async () => (await count()) === 1, 'the event archived')
			const jsm = await jetstreamManager(suite.nc)
			await until(async () => (await jsm.streams.info(settings.dlqStream).catch(() => null))?.state.messages === 1, 'one dead letter')
			const letter = (await jsm.streams.getMessage(settings.dlqStream, { seq: 1 }))!
			expect(letter.string()).toBe(broken)
			expect(letter.header.get('Gavel-Dlq-Reason')).toBe('invalid')
			expect(letter.header.get('Gavel-Source-Part')).toBe('state')
			expect(letter.header.get('Gavel-Source-Subject')).toBe(`${settings.subjectPrefix}.${a.auction}`)
			await until(async () => {
				const s = await consumerState(suite.nc, settings.stream, settings.consumer)
				return s.pending === 0 && s.ackPending === 0
			}, 'the message settled')
		})
	}, 30_000)

	test('an event with a taken seq goes to the dead-letter stream beside the stored one; the first stays, the rest go on', async () => {
		const { settings, sql, count } = await setup()
		const r = reports()
		const lines: Array<Record<string, unknown>> = []
		const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
		const archiver = runArchiver(settings, { log, report: r.add })
		await untilConsuming(suite.nc, settings)
		const a = auctionEvents()
		const created = a.created()
		const bid = a.bid('bob', 1000)
		const next = a.bid('carol', 1100)
		const impostor = rival(bid, { bidder: 'mallory', amount: 9000, price: 9000, leader: 'mallory' })
		await publishEvents(suite.nc, settings.subjectPrefix, [created.json, bid.json])
		await until(async () => (await count()) === 2, 'the first two archived')
		await publishEvents(suite.nc, settings.subjectPrefix, [impostor.json, next.json])

		const jsm = await jetstreamManager(suite.nc)
		await until(async () => (await jsm.streams.info(settings.dlqStream).catch(() => null))?.state.messages === 1, 'one dead letter')
		await until(async () => (await count()) === 3, 'the next bid archived')
		const letter = (await jsm.streams.getMessage(settings.dlqStream, { seq: 1 }))!
		expect(letter.header.get('Gavel-Dlq-Reason')).toBe('seq-conflict')
		expect(letter.header.get('Gavel-Dlq-Error')).toBe(
			`seq 1 of auction ${a.auction} is already archived as event ${bid.event.id}; event ${impostor.event.id} was not archived`,
		)
		expect(letter.header.get('Gavel-Source-Stream')).toBe(settings.stream)
		expect(letter.header.get('Gavel-Source-Subject')).toBe(`${settings.subjectPrefix}.${a.auction}`)
		expect(Number(letter.header.get('Gavel-Source-Seq'))).toBe(3)
		expect(letter.subject).toBe(`${settings.dlqStream}.${settings.stream}`)
		// Both events, each exactly as it was published.
		expect(letter.string()).toBe(`{"stored":${bid.json},"incoming":${impostor.json}}`)
		expect(JSON.parse(letter.string())).toEqual({ stored: bid.event, incoming: impostor.event })

		const rows = await sql<{ json: string }[]>`select payload::text as json from bid_events order by seq`
		expect(rows.map((row) => row.json)).toEqual([created.json, bid.json, next.json])
		await until(async () => {
			const s = await consumerState(suite.nc, settings.stream, settings.consumer)
			return s.pending === 0 && s.ackPending === 0
		}, 'every message settled')
		await until(() => r.seqConflicts === 1 && r.deadLetters('seq-conflict') === 1, 'the conflict reported')
		expect(lines.filter((l) => l.reason === 'seq-conflict')).toEqual([
			expect.objectContaining({ level: 50, auction: a.auction, seq: 1, storedEventId: bid.event.id, incomingEventId: impostor.event.id }),
		])
		await archiver.stop()
		expect(r.seqConflicts).toBe(1)
		await sql.end()
	}, 30_000)

	test.each([
		['events', false],
		['events carrying their state records (one message per commit)', true],
	])('Postgres unavailable for a while: nothing acked before its commit, no loss, catches up (%s)', async (_what, withStates) => {
		const schema = await createTestSchema()
		schemas.push(schema)
		const real = new URL(schema.url)
		const proxy = await startTcpProxy({ host: real.hostname, port: Number(real.port || 5432) })
		const viaProxy = new URL(schema.url)
		viaProxy.port = String(proxy.port)
		// The archiver goes through the proxy; the test checks the archive directly.
		// A short ack wait, so the outage outlasts it: held events must stay unacked, not be lost.
		const { settings, sql, count: archived } = await setup({ databaseUrl: viaProxy.toString(), ackWaitMs: 1_000 }, schema)
		const r = reports()
		const archiver = runArchiver(settings, { log: silentLogger(), report: r.add })
		await untilConsuming(suite.nc, settings)
		const bus = withStates ? await createNatsEventBus({ url: NATS_URL, stream: settings.stream, subjectPrefix: settings.subjectPrefix, log: silentLogger() }) : null
		const revs = new Map<string, number>()
		const publish = async (jsons: string[]) => {
			if (!bus) return publishEvents(suite.nc, settings.subjectPrefix, jsons)
			for (let i = 0; i < jsons.length; i += 500)
				await Promise.all(
					jsons.slice(i, i + 500).map((json) => {
						const { id, auction } = JSON.parse(json) as { id: string; auction: string }
						const rev = revs.get(auction) ?? 0
						revs.set(auction, rev + 1)
						return bus.publish(auction, id, json, stateOf(auction, rev).json)
					}),
				)
		}
		const lists = manyEvents(20, 250)
		const all = interleave(lists)
		await publish(all.slice(0, 2_000))
		await until(async () => (await archived()) === 2_000, 'the first 2,000 archived')

		await proxy.close()
		await publish(all.slice(2_000))
		await until(() => r.writeFailures >= 6, 'the archiver retrying writes (backoff grows past the ack wait)')
		expect(r.last!.healthy).toBe(false)
		// Everything JetStream considers acked is in the archive; the rest is held, not lost.
		const acked = async () => {
			const s = await consumerState(suite.nc, settings.stream, settings.consumer)
			return all.length - s.pending - s.ackPending
		}
		const held = await archived()
		expect(held).toBe(2_000)
		expect(await acked()).toBeLessThanOrEqual(held)
		expect(r.last!.lagEvents).toBeGreaterThan(0)

		await proxy.open()
		await until(async () => (await archived()) === 5_000, 'every event archived after the outage', 60_000)
		await until(async () => (await acked()) === 5_000, 'every event acked')
		await until(() => r.last!.healthy && r.last!.lagEvents === 0, 'a healthy report with no lag')
		await expectDenseAuctions(sql, 20, 249)
		if (withStates) expect((await sql`select count(*) as n, min(rev) as lo from auction_states`).map((r) => ({ ...r }))).toEqual([{ n: '20', lo: '249' }])
		await archiver.stop()
		await bus?.close()
		await proxy.close()
		await sql.end()
	}, 90_000)
})
