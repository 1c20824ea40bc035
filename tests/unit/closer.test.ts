import { expect, test } from 'bun:test'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { createCloser } from '../../src/modules/closer/closer.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { testClock } from '../helpers/clock.ts'

test('the closer publishes one auction.closed per due auction and retries after a store failure', async () => {
	const clock = testClock()
	const store = createMemoryBidStore({ now: clock.now })
	for (const id of ['a', 'b', 'c']) {
		const r = newAuction({ id, title: id, startingPrice: 100, increment: 10, endsAt: clock.now() + (id === 'c' ? 60_000 : 1_000) }, 'sam', clock.now())
		await store.createAuction(r, JSON.stringify(auctionCreated(r)))
	}
	const published: string[] = []
	const metrics = createMetrics()
	let failNext = true
	const flaky = {
		...store,
		dueAuctions: async (limit: number) => {
			if (failNext) {
				failNext = false
				throw new Error('store down')
			}
			return store.dueAuctions(limit)
		},
	}
	const closer = createCloser({ store: flaky, publish: async (auction, events) => void published.push(auction, ...events.map((e) => JSON.parse(e).type)), log: silentLogger(), metrics, intervalMs: 10 })
	clock.advance(1_000)
	closer.start()
	const deadline = Date.now() + 5_000
	while (published.length < 4 && Date.now() < deadline) await Bun.sleep(10)
	await closer.stop()
	expect(published).toEqual(['a', 'auction.closed', 'b', 'auction.closed'])
	expect(await metrics.registry.getSingleMetricAsString('gavel_auctions_closed_total')).toContain('gavel_auctions_closed_total 2')
	expect(await closer.closeDue()).toBe(0)
	clock.advance(60_000)
	expect(await closer.closeDue()).toBe(1)
})
