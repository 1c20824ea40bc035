import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'bun:test'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { createLocalEventBus } from '../../src/adapters/local/event-bus.ts'
import { createSqliteArchive } from '../../src/adapters/sqlite/archive.ts'
import { createRepairer } from '../../src/archive/repair.ts'
import { ArchiveDataError, type Archive } from '../../src/ports/archive.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { payloadText, eventIdOf } from '../../src/ports/event-bus.ts'
import { runArchiver } from '../../workers/archiver/run.ts'
import { repairContract } from '../contract/repair.ts'
import { testArchiverSettings, until } from '../helpers/archive.ts'

/** The embedded stack: memory store, in-process bus, and an archiver on SQLite fed by that bus. */
async function embedded(eventsKept?: number) {
	const dir = await mkdtemp(join(tmpdir(), 'gavel-repair-'))
	const store = createMemoryBidStore({ eventsKept })
	const bus = createLocalEventBus()
	const archiver = runArchiver(testArchiverSettings({ natsUrl: undefined, databaseUrl: undefined, dataDir: dir }), {
		log: silentLogger(),
		report: () => {},
	})
	const unsubscribe = bus.subscribeAll((p) => archiver.push([payloadText(p)]))
	const archive = createSqliteArchive({ path: join(dir, 'archive.sqlite') })
	return {
		store,
		bus,
		archive,
		async cleanup() {
			unsubscribe()
			await archiver.stop()
			await archive.close()
			await bus.close()
			await store.close()
			await rm(dir, { recursive: true, force: true })
		},
	}
}

repairContract('memory store, in-process bus, SQLite', () => embedded())

test('events that already left the store window are counted as unrepairable once; the rest are repaired', async () => {
	const h = await embedded(10)
	try {
		let t = 0
		const metrics = createMetrics()
		const repairer = createRepairer({ ...h, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t })
		const record = newAuction({ id: 'window', title: 'Lamp', startingPrice: 1000, increment: 10, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await h.store.createAuction(record, created)
		await h.bus.publish(record.id, eventIdOf(created), created)
		for (let i = 1; i <= 30; i++) await h.store.placeBid({ auction: record.id, bidder: i % 2 ? 'bob' : 'carol', amount: 1000 + 10 * i })
		await until(async () => (await h.archive.progress([record.id]))[0]?.eventCount === 1, 'auction.created archived')

		await repairer.tick()
		t = 1_000
		expect(await repairer.tick()).toMatchObject({ repaired: 10 }) // the store keeps seqs 21–30
		await until(async () => (await h.archive.progress([record.id]))[0]?.lastSeq === 30, 'the kept events archived')
		expect(await h.archive.missingSeqs(record.id, 30, 100)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
		const value = async (c: typeof metrics.repaired) => (await c.get()).values[0]?.value ?? 0
		expect([await value(metrics.repaired), await value(metrics.unrepairable)]).toEqual([10, 20])

		for (const step of [2_000, 3_000, 4_000]) {
			t = step
			await repairer.tick()
		}
		expect([await value(metrics.repaired), await value(metrics.unrepairable)]).toEqual([10, 20])
	} finally {
		await h.cleanup()
	}
})

test('waits while the archiver is behind (paused), and the grace period starts again after', async () => {
	const h = await embedded()
	try {
		let t = 0
		let paused = false
		const metrics = createMetrics()
		const repairer = createRepairer({ ...h, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t, paused: () => paused })
		const record = newAuction({ id: 'paused', title: 'Lamp', startingPrice: 1000, increment: 10, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await h.store.createAuction(record, created)
		await h.bus.publish(record.id, eventIdOf(created), created)
		await h.store.placeBid({ auction: record.id, bidder: 'bob', amount: 1000 }) // never published
		await until(async () => (await h.archive.progress([record.id]))[0]?.eventCount === 1, 'auction.created archived')

		await repairer.tick() // suspected at t = 0
		paused = true
		t = 5_000
		expect(await repairer.tick()).toEqual({ checked: 0, repaired: 0 })
		paused = false
		expect(await repairer.tick()).toMatchObject({ repaired: 0 }) // suspected again at t = 5,000
		t = 6_000
		expect(await repairer.tick()).toMatchObject({ repaired: 1 })
	} finally {
		await h.cleanup()
	}
})

test('an event the archive refuses (the archiver dead-letters it) is given up at once; the others are written', async () => {
	const h = await embedded()
	try {
		let t = 0
		const metrics = createMetrics()
		// The archive refuses seq 2 for its content, in any batch that holds it.
		const archive: Archive = {
			...h.archive,
			write: async (events) => {
				if (events.some((e) => e.event.seq === 2)) throw new ArchiveDataError('value out of range')
				return h.archive.write(events)
			},
		}
		const repairer = createRepairer({ ...h, archive, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t })
		const record = newAuction({ id: 'refused', title: 'Lamp', startingPrice: 1000, increment: 10, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await h.store.createAuction(record, created)
		await h.bus.publish(record.id, eventIdOf(created), created)
		for (const [bidder, amount] of [['bob', 1000], ['carol', 1010], ['bob', 1020]] as const) await h.store.placeBid({ auction: record.id, bidder, amount })
		await until(async () => (await h.archive.progress([record.id]))[0]?.eventCount === 1, 'auction.created archived')

		const value = async (c: typeof metrics.repaired) => (await c.get()).values[0]?.value ?? 0
		const repaired: number[] = []
		for (let pass = 0; pass < 4; pass++) {
			await repairer.tick() // suspect
			t += 1_000
			repaired.push((await repairer.tick()).repaired) // repair after the grace period
			t += 1_000
		}
		// Seqs 1 and 3 are written at the first repair; seq 2 is given up on then, never tried again.
		expect(repaired).toEqual([2, 0, 0, 0])
		expect([await value(metrics.repaired), await value(metrics.unrepairable)]).toEqual([2, 1])
		expect(await h.archive.missingSeqs(record.id, 3, 10)).toEqual([2])
	} finally {
		await h.cleanup()
	}
})

test('an archive that does not answer repairs nothing and counts nothing; the next pass does', async () => {
	const h = await embedded()
	try {
		let t = 0
		let down = true
		const metrics = createMetrics()
		const archive: Archive = {
			...h.archive,
			write: async (events) => {
				if (down) throw new Error('connection refused')
				return h.archive.write(events)
			},
		}
		const repairer = createRepairer({ ...h, archive, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t })
		const record = newAuction({ id: 'down', title: 'Lamp', startingPrice: 1000, increment: 10, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await h.store.createAuction(record, created)
		await h.bus.publish(record.id, eventIdOf(created), created)
		await h.store.placeBid({ auction: record.id, bidder: 'bob', amount: 1000 }) // never published
		await until(async () => (await h.archive.progress([record.id]))[0]?.eventCount === 1, 'auction.created archived')

		const value = async (c: typeof metrics.repaired) => (await c.get()).values[0]?.value ?? 0
		await repairer.tick()
		t = 1_000
		expect(await repairer.tick()).toMatchObject({ repaired: 0 })
		expect(await value(metrics.repaired)).toBe(0)
		down = false
		await repairer.tick() // suspected again
		t = 2_000
		expect(await repairer.tick()).toMatchObject({ repaired: 1 })
		expect(await value(metrics.repaired)).toBe(1)
		expect(await h.archive.missingSeqs(record.id, 1, 10)).toEqual([])
	} finally {
		await h.cleanup()
	}
})
