import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { createRepairer } from '../../src/archive/repair.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { isDense, type Archive } from '../../src/ports/archive.ts'
import type { BidStore } from '../../src/ports/bid-store.ts'
import { eventIdOf, type EventBus } from '../../src/ports/event-bus.ts'
import { until } from '../helpers/archive.ts'

/** A store, a bus, an archiver fed by that bus, and the archive it writes (read side). */
export interface RepairHarness {
	store: BidStore
	bus: EventBus
	archive: Archive
	cleanup(): Promise<void>
}

const GRACE_MS = 5_000
let nextId = 0
const uniqueId = () => `rep${Date.now().toString(36)}${(nextId++).toString(36)}`

/**
 * repairContract stages the crash window (a bid committed in the store whose event never
 * reached the bus) and checks that crash repair fills the gap with the store's own events,
 * only after the grace period, and only once. The repairer's clock is fake; nothing waits on
 * wall-clock time except for the archive to catch up.
 */
export function repairContract(name: string, make: () => Promise<RepairHarness>) {
	describe(`crash repair: ${name}`, () => {
		let h: RepairHarness
		beforeAll(async () => {
			h = await make()
		})
		afterAll(() => h.cleanup())

		const create = async (publish: boolean) => {
			const record = newAuction({ id: uniqueId(), title: 'Lamp', startingPrice: 1000, increment: 100, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
			const json = JSON.stringify(auctionCreated(record))
			await h.store.createAuction(record, json)
			if (publish) await h.bus.publish(record.id, eventIdOf(json), json)
			return record.id
		}
		/** Places a bid; its events reach the bus only when `publish` (else: the process "died"). */
		const bid = async (auction: string, bidder: string, amount: number, publish: boolean) => {
			const placed = await h.store.placeBid({ auction, bidder, amount })
			if (publish) for (const json of placed.events) await h.bus.publish(auction, eventIdOf(json), json)
			return placed.events
		}
		const progress = async (id: string) => (await h.archive.progress([id]))[0] ?? null
		const counter = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0

		test('writes events committed in the store but never published into the archive after the grace period, and publishes them, with their ids', async () => {
			let t = 0
			const metrics = createMetrics()
			const published: string[] = []
			const bus: EventBus = {
				...h.bus,
				publish: (auction, id, json) => {
					published.push(`${auction}:${JSON.parse(json).seq}`)
					return h.bus.publish(auction, id, json)
				},
			}
			const repairer = createRepairer({ ...h, bus, log: silentLogger(), metrics, graceMs: GRACE_MS, intervalMs: 1_000, now: () => t })

			const a = await create(true)
			const lostBids: string[] = []
			for (let i = 1; i <= 6; i++) {
				const events = await bid(a, i % 2 ? 'bob' : 'carol', 1000 + 100 * i, i !== 3 && i !== 6)
				if (i === 3 || i === 6) lostBids.push(...events)
			}
			const b = await create(false) // died right after creating: not even auction.created went out
			await until(async () => (await progress(a))?.eventCount === 5, 'the published events archived')

			expect(await repairer.tick()).toMatchObject({ repaired: 0 }) // behind, but maybe in flight
			t = GRACE_MS - 1
			expect(await repairer.tick()).toMatchObject({ repaired: 0 })
			t = GRACE_MS
			expect(await repairer.tick()).toMatchObject({ repaired: 3 })
			// The stream gets them too: a's two lost bids, b's auction.created.
			expect(published.filter((p) => p.startsWith(`${a}:`) || p.startsWith(`${b}:`)).sort()).toEqual([`${a}:3`, `${a}:6`, `${b}:0`].sort())

			await until(async () => {
				const [pa, pb] = [await progress(a), await progress(b)]
				return pa?.lastSeq === 6 && isDense(pa) && pb?.lastSeq === 0 && isDense(pb)
			}, 'both auctions complete in the archive')
			const archived = new Map((await h.archive.events(a, -1, 100)).map((e) => [e.seq, e.json]))
			for (const json of lostBids) expect(archived.get(JSON.parse(json).seq)).toBe(json)
			expect(await h.archive.auction(a)).toMatchObject({ bidCount: 6, eventCount: 7, lastSeq: 6 })
			expect(await counter(metrics.repaired)).toBe(3)

			t += GRACE_MS * 2
			expect(await repairer.tick()).toMatchObject({ repaired: 0 }) // nothing left to do
			expect(await counter(metrics.repaired)).toBe(3)
		})

		test('a busy auction whose archive keeps catching up is never repaired', async () => {
			let t = 0
			const a = await create(true)
			// Other tests' auctions share the store; watch only what is re-published for this one.
			const published: string[] = []
			const bus: EventBus = {
				...h.bus,
				publish: (auction, id, json) => {
					if (auction === a) published.push(id)
					return h.bus.publish(auction, id, json)
				},
			}
			const repairer = createRepairer({ ...h, bus, log: silentLogger(), metrics: createMetrics(), graceMs: GRACE_MS, intervalMs: 1_000, now: () => t })
			for (let round = 1; round <= 4; round++) {
				await bid(a, round % 2 ? 'bob' : 'carol', 1000 + 100 * round, true)
				await repairer.tick() // likely sees it behind: the event is still on its way
				await until(async () => (await progress(a))?.lastSeq === round, `bid ${round} archived`)
				t += GRACE_MS
			}
			expect(published).toEqual([])
		})
	})
}
