import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, test } from 'bun:test'
import pino from 'pino'
import { createSqliteArchive } from '../../src/adapters/sqlite/archive.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { runArchiver } from '../../workers/archiver/run.ts'
import { auctionEvents, rival } from '../contract/archive.ts'
import { reports, testArchiverSettings, until } from '../helpers/archive.ts'

// The archiver without NATS: events pushed from the in-process bus into the SQLite archive.
let dir: string
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-embedded-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const settings = (overrides = {}) => testArchiverSettings({ natsUrl: undefined, databaseUrl: undefined, dataDir: dir, ...overrides })
const archived = async (auction: string) => {
	const reader = createSqliteArchive({ path: join(dir, 'archive.sqlite') })
	try {
		return (await reader.events(auction, -1, 10_000)).map((e) => e.json)
	} finally {
		await reader.close()
	}
}

test('writes full batches at once and the rest at stop, which says how many it flushed', async () => {
	const r = reports()
	const archiver = runArchiver(settings({ batchMax: 100, batchWaitMs: 60_000 }), { log: silentLogger(), report: r.add })
	const a = auctionEvents()
	const events = [a.created().json, ...Array.from({ length: 249 }, (_, i) => a.bid(`u${i % 3}`, 1000 + i).json)]
	archiver.push(events)
	await until(async () => (await archived(a.auction)).length === 200, 'the two full batches')
	expect(await archiver.stop()).toEqual({ flushed: 50 })
	expect(await archived(a.auction)).toEqual(events)
	expect(r.all.flatMap((x) => x.batches.map(([size]) => size))).toEqual([100, 100, 50])
	expect(r.last).toMatchObject({ lagEvents: 0, healthy: true })
})

test('an undecodable or invalid event is counted as a dead letter and the others are archived', async () => {
	const r = reports()
	const archiver = runArchiver(settings(), { log: silentLogger(), report: r.add })
	const a = auctionEvents()
	const good = [a.created().json, a.bid('bob', 1000).json, a.bid('carol', 1100).json]
	archiver.push([good[0]!, '{"id":', good[1]!, JSON.stringify({ type: 'bid.placed', auction: a.auction, seq: 9 }), good[2]!])
	await until(async () => (await archived(a.auction)).length === 3, 'the good events')
	await archiver.stop()
	expect(await archived(a.auction)).toEqual(good)
	expect([r.deadLetters('undecodable'), r.deadLetters('invalid')]).toEqual([1, 1])
})

test('a refused event is isolated by halving the batch: it alone is dead-lettered', async () => {
	const r = reports()
	const archiver = runArchiver(settings({ batchMax: 64, batchWaitMs: 60_000 }), { log: silentLogger(), report: r.add })
	const a = auctionEvents()
	const events = [a.created(), ...Array.from({ length: 63 }, (_, i) => a.bid(`u${i % 3}`, 1000 + i))]
	// Valid JSON and schema (an integer), but beyond 64 bits: the archive refuses to store it.
	const broken = { ...events[17]!.event, amount: 2 ** 63 }
	const pushed = events.map((e) => e.json)
	pushed[17] = JSON.stringify(broken)
	archiver.push(pushed)
	await archiver.stop()
	const stored = await archived(a.auction)
	expect(stored.length).toBe(63)
	expect(stored).not.toContain(pushed[17])
	expect(r.deadLetters('rejected')).toBe(1)
})

test('an event with a taken seq is a seq conflict: counted, logged with both ids, the first stays, the rest go on', async () => {
	const r = reports()
	const lines: Array<Record<string, unknown>> = []
	const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
	const archiver = runArchiver(settings({ batchMax: 2, batchWaitMs: 60_000 }), { log, report: r.add })
	const a = auctionEvents()
	const created = a.created()
	const bid = a.bid('bob', 1000)
	const impostor = rival(bid, { bidder: 'mallory' }) // the seq a store that lost bob's bid hands out again
	const next = a.bid('carol', 1100)
	// One rival in the batch after bob's, another beside bob's redelivered bid (a duplicate, not a conflict).
	archiver.push([created.json, bid.json, impostor.json, next.json, bid.json, rival(bid).json])
	await archiver.stop()
	expect(await archived(a.auction)).toEqual([created.json, bid.json, next.json])
	expect([r.seqConflicts, r.deadLetters('seq-conflict')]).toEqual([2, 2])
	expect(r.written).toBe(3)
	const logged = lines.filter((l) => l.reason === 'seq-conflict')
	expect(logged).toHaveLength(2)
	expect(logged[0]).toMatchObject({ level: 50, auction: a.auction, seq: 1, storedEventId: bid.event.id, incomingEventId: impostor.event.id, payload: impostor.json })
	expect(String(logged[0]!.error)).toContain(bid.event.id)
})

test('readiness follows the archive as it is now: healthy again as soon as a failed migration succeeds', async () => {
	const r = reports()
	const real = createSqliteArchive({ path: join(dir, 'archive.sqlite') })
	let failures = 2
	const archive = Object.assign(Object.create(real) as typeof real, {
		migrate: async () => {
			if (failures-- > 0) throw new Error('no schema has been selected to create in')
			return real.migrate()
		},
	})
	const archiver = runArchiver(settings({ reportEveryMs: 20 }), { log: silentLogger(), report: r.add, archive })
	await until(async () => r.all.some((x) => !x.healthy), 'a report of the failed migration')
	// No event arrives: nothing but the migration itself can make the archiver healthy again.
	await until(async () => failures < 0 && r.last?.healthy === true, 'a healthy report after the migration succeeds')
	await archiver.stop()
	await real.close()
})

test('reports that the archive is migrated as soon as it is, not at the next report (readiness waits for it)', async () => {
	const r = reports()
	const archiver = runArchiver(settings({ reportEveryMs: 600_000 }), { log: silentLogger(), report: r.add })
	try {
		await until(() => r.all.length > 0, 'a report')
		expect(r.all[0]).toMatchObject({ migrated: true, healthy: true })
	} finally {
		await archiver.stop()
	}
})
