import { afterAll, expect, test } from 'bun:test'
import type Redis from 'ioredis'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { createCloser } from '../../src/modules/closer/closer.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated, type AuctionClosed } from '../../src/events.ts'
import { connectRedis, deleteKeys, uniqueName } from '../helpers/services.ts'
import { eventually } from '../helpers/wait.ts'

const prefix = uniqueName()
const connections: Redis[] = []
afterAll(async () => {
	await deleteKeys(connections[0]!, prefix)
	await Promise.all(connections.map((r) => r.quit()))
})

test('three closers on real Redis close 1,000 auctions due in the same second: each exactly once, none late by more than a second', async () => {
	for (let i = 0; i < 4; i++) connections.push(await connectRedis())
	const [admin, ...closerConnections] = connections
	const seeding = createRedisBidStore({ redis: admin!, prefix })
	const now = Date.now()
	const endsAt = new Map<string, number>()
	await Promise.all(
		Array.from({ length: 1_000 }, async (_, i) => {
			const record = newAuction({ id: `close-${i}`, title: 't', startingPrice: 100, increment: 10, endsAt: now + 1_500 + (i % 500) }, 'sam', now)
			endsAt.set(record.id, record.endsAt)
			await seeding.createAuction(record, JSON.stringify(auctionCreated(record)))
		}),
	)
	// A bid on some, so winners are checked too.
	for (let i = 0; i < 10; i++) await seeding.placeBid({ auction: `close-${i}`, bidder: 'bob', amount: 100 })

	const published: AuctionClosed[] = []
	const closers = closerConnections.map((redis) =>
		createCloser({
			store: createRedisBidStore({ redis, prefix }),
			publish: async (_auction, events) => events.forEach((e) => published.push(JSON.parse(e))),
			log: silentLogger(),
			metrics: createMetrics(),
			intervalMs: 100,
		}),
	)
	closers.forEach((c) => c.start())
	try {
		await eventually(() => published.length >= 1_000, '1,000 closes', 20_000)
		await Bun.sleep(300) // a late double close would show up now
	} finally {
		await Promise.all(closers.map((c) => c.stop()))
	}
	expect(published).toHaveLength(1_000)
	expect(new Set(published.map((e) => e.auction)).size).toBe(1_000)
	const late = published.filter((e) => e.at - endsAt.get(e.auction)! > 1_000)
	expect(late).toEqual([])
	expect(published.every((e) => e.at >= endsAt.get(e.auction)!)).toBe(true)
	expect(published.filter((e) => e.winner === 'bob').map((e) => e.auction).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `close-${i}`).sort())
	expect(await seeding.dueAuctions(10)).toEqual([])
})

test('auctions that came due while no closer ran are closed as soon as one starts', async () => {
	if (connections.length === 0) connections.push(await connectRedis())
	const store = createRedisBidStore({ redis: connections[0]!, prefix })
	const now = Date.now()
	for (let i = 0; i < 20; i++) {
		const record = newAuction({ id: `down-${i}`, title: 't', startingPrice: 100, increment: 10, endsAt: now + 200 }, 'sam', now)
		await store.createAuction(record, JSON.stringify(auctionCreated(record)))
	}
	await Bun.sleep(400) // due, and no closer is running
	const published: AuctionClosed[] = []
	const closer = createCloser({ store, publish: async (_a, events) => events.forEach((e) => published.push(JSON.parse(e))), log: silentLogger(), metrics: createMetrics(), intervalMs: 100 })
	closer.start()
	try {
		await eventually(() => published.length >= 20, 'the overdue closes', 10_000)
	} finally {
		await closer.stop()
	}
	expect(published.map((e) => e.auction).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `down-${i}`).sort())
	expect((await store.getAuction('down-0'))!.status).toBe('closed')
})
