import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'bun:test'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { createLocalEventBus } from '../../src/adapters/local/event-bus.ts'
import { createSqliteArchive } from '../../src/adapters/sqlite/archive.ts'
import { createRepairer } from '../../src/archive/repair.ts'
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
		expect(await repairer.tick()).toMatchObject({ republished: 10 }) // the store keeps seqs 21–30
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
		expect(await repairer.tick()).toEqual({ checked: 0, republished: 0 })
		paused = false
		expect(await repairer.tick()).toMatchObject({ republished: 0 }) // suspected again at t = 5,000
		t = 6_000
		expect(await repairer.tick()).toMatchObject({ republished: 1 })
	} finally {
		await h.cleanup()
	}
})

test('an event whose re-publishes never reach the archive (dead-lettered) is given up after a few tries', async () => {
	const h = await embedded()
	try {
		let t = 0
		const metrics = createMetrics()
		// The archiver refuses seq 2 for good: on the bus it goes nowhere, as into a dead-letter stream.
		const bus = {
			...h.bus,
			publish: async (auction: string, id: string, json: string) => {
				if ((JSON.parse(json) as { seq: number }).seq !== 2) await h.bus.publish(auction, id, json)
			},
		}
		const repairer = createRepairer({ ...h, bus, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t })
		const record = newAuction({ id: 'refused', title: 'Lamp', startingPrice: 1000, increment: 10, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await h.store.createAuction(record, created)
		await h.bus.publish(record.id, eventIdOf(created), created)
		for (const [bidder, amount] of [['bob', 1000], ['carol', 1010], ['bob', 1020]] as const) await h.store.placeBid({ auction: record.id, bidder, amount })
		await until(async () => (await h.archive.progress([record.id]))[0]?.eventCount === 1, 'auction.created archived')

		const value = async (c: typeof metrics.repaired) => (await c.get()).values[0]?.value ?? 0
		const sent: number[] = []
		for (let pass = 0; pass < 12; pass++) {
			await repairer.tick() // suspect
			t += 1_000
			sent.push((await repairer.tick()).republished) // repair after the grace period
			t += 1_000
			await until(async () => (await h.archive.missingSeqs(record.id, 3, 10)).every((s) => s === 2), 'the others archived')
		}
		// Seqs 1 and 3 arrive at the first repair; seq 2 is sent three times, then given up on.
		expect(sent.slice(0, 4)).toEqual([3, 1, 1, 0])
		expect(sent.slice(4).every((n) => n === 0)).toBe(true)
		expect(await value(metrics.unrepairable)).toBe(1)
		expect(await h.archive.missingSeqs(record.id, 3, 10)).toEqual([2])
	} finally {
		await h.cleanup()
	}
})
