import { afterAll, describe, expect, test } from 'bun:test'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { auctionKeys, catalogKeys, legacyCatalogKeys } from '../../src/adapters/redis/keys.ts'
import type { AuctionStatus } from '../../src/domain/auction.ts'
import { bidStoreContract, storeDriver } from '../contract/bid-store.ts'
import { testClock } from '../helpers/clock.ts'
import { countRedisTraffic, monitorRedis } from '../helpers/redis-traffic.ts'
import { connectRedis, deleteKeys, uniqueName } from '../helpers/services.ts'

const redis = await connectRedis()
afterAll(() => redis.quit())

bidStoreContract('redis', async (clock, { eventsKept, idempotencyKeysPerBidder }) => {
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis, prefix, now: clock.now, eventsKept, idempotencyKeysPerBidder })
	return { store, cleanup: () => deleteKeys(redis, prefix) }
})

/** SCAN, not KEYS: the Redis is shared with other suites. */
async function keysMatching(pattern: string): Promise<string[]> {
	const found: string[] = []
	let cursor = '0'
	do {
		const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
		cursor = next
		found.push(...keys)
	} while (cursor !== '0')
	return found
}

describe('Redis BidStore: what one request may leave behind or cost', () => {
	test('idempotency records are small whatever the settings, capped per bidder and auction, and expire', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		const store = createRedisBidStore({ redis, prefix, now: clock.now, idempotencyKeysPerBidder: 10 })
		try {
			const d = storeDriver(store, clock)
			// Long settings: the old records repeated them (~1.3 KB each here).
			const tiers = Array.from({ length: 32 }, (_, i) => ({ from: i * 100_000, step: 100 + i }))
			const a = await d.create({ title: 'T'.repeat(200), increment: tiers })
			clock.advance(1_000)
			await d.bid(a.id, 'bob', 1000, undefined, 'first')
			for (let i = 0; i < 30; i++) await d.bid(a.id, 'bob', 1100, undefined, `raise-${i}`) // changes nothing
			const { answers, order } = auctionKeys(prefix, a.id).idempotency('bob')
			expect(await redis.hlen(answers)).toBe(10)
			expect(await redis.zrange(order, 0, -1)).toEqual(Array.from({ length: 10 }, (_, i) => `raise-${20 + i}`))
			for (const key of [answers, order]) {
				const ttl = await redis.pttl(key)
				expect(ttl).toBeGreaterThan(0)
				expect(ttl).toBeLessThanOrEqual(24 * 60 * 60 * 1000)
			}
			const bytes = Number(await redis.memory('USAGE', answers, 'SAMPLES', 0)) + Number(await redis.memory('USAGE', order, 'SAMPLES', 0))
			expect(bytes / 10).toBeLessThan(350) // ~200 measured (bench/store-limits.ts)
			// Nothing else was written for the keys: no per-key records.
			expect((await keysMatching(`${prefix}:{${a.id}}:idem*`)).sort()).toEqual([answers, order].sort())
		} finally {
			await deleteKeys(redis, prefix)
		}
	})

	const T0 = Date.UTC(2030, 0, 1)
	const statuses: AuctionStatus[] = ['scheduled', 'open', 'closed']

	/** A store on a connection of its own, so its commands can be counted and monitored alone. */
	async function ownStore() {
		const prefix = uniqueName()
		const clock = testClock(T0)
		const client = await connectRedis()
		const store = createRedisBidStore({ redis: client, prefix, now: clock.now })
		return {
			prefix,
			clock,
			client,
			store,
			d: storeDriver(store, clock),
			async cleanup() {
				await deleteKeys(redis, prefix)
				await client.quit()
			},
		}
	}

	test('a filtered listing costs a few round trips and about `limit` commands, however many auctions there are', async () => {
		const own = await ownStore()
		const monitor = await monitorRedis(redis, own.client)
		try {
			// 600 auctions: the 5 oldest end at +10 s, the 10 newest start in an hour. Before, with
			// these, `?status=closed&limit=1` took 598 round trips and 897 commands.
			for (let i = 0; i < 600; i++) {
				own.clock.set(T0 + i)
				await own.d.create({ startsAt: i >= 590 ? T0 + 3_600_000 : T0, endsAt: T0 + (i < 5 ? 10_000 : 7_200_000) })
			}
			own.clock.set(T0 + 20_000)
			await own.store.listAuctions({ status: 'open', limit: 1 }) // once per process: is the listing filled?
			await monitor.drain()
			const traffic = countRedisTraffic(own.client)
			const measure = async (status: AuctionStatus, limit: number) => {
				traffic.reset()
				const page = await own.store.listAuctions({ status, limit })
				const cost = { status, limit, items: page.items.length, commands: traffic.commands.length, roundTrips: traffic.roundTrips }
				const sent = [...traffic.commands]
				// What the client counted is what Redis ran for it.
				expect((await monitor.drain()).sort()).toEqual(sent.sort())
				return cost
			}
			// 5 auctions ended with no closer yet: each listing checks them (one HMGET each).
			for (const status of statuses)
				for (const limit of [1, 50]) {
					const cost = await measure(status, limit)
					expect(cost.items).toBe(Math.min(limit, { scheduled: 10, open: 585, closed: 5 }[status]))
					expect(cost.roundTrips).toBeLessThanOrEqual(4)
					expect(cost.commands).toBeLessThanOrEqual(cost.items + 5 + 5 + 1) // MULTI … EXEC, the 5 HMGETs, a re-read
				}
			// Closed by the closer: two round trips, the MULTI of three reads and one HGETALL per item.
			for (const id of await own.store.dueAuctions(10)) await own.store.closeAuction(id)
			await monitor.drain()
			for (const status of statuses)
				for (const limit of [1, 50]) {
					const cost = await measure(status, limit)
					expect(cost).toEqual({ ...cost, roundTrips: 2, commands: 5 + cost.items })
				}
			traffic.stop()
		} finally {
			monitor.stop()
			await own.cleanup()
		}
	})

	test('a burst of starts is moved by one script run per thousand, then listing is back to two round trips', async () => {
		const own = await ownStore()
		try {
			for (let i = 0; i < 600; i++) {
				own.clock.set(T0 + i)
				await own.d.create({ startsAt: T0 + 10_000, endsAt: T0 + 7_200_000 })
			}
			own.clock.set(T0 + 1_000)
			await own.store.listAuctions({ status: 'scheduled', limit: 1 })
			own.clock.set(T0 + 10_000) // all 600 start
			const traffic = countRedisTraffic(own.client)
			const page = await own.store.listAuctions({ status: 'open', limit: 50 })
			expect(page.items).toHaveLength(50)
			expect(traffic.commands.filter((c) => c === 'EVALSHA' || c === 'EVAL')).toHaveLength(1)
			expect(traffic.roundTrips).toBeLessThanOrEqual(4)
			traffic.reset()
			expect((await own.store.listAuctions({ status: 'scheduled', limit: 50 })).items).toEqual([])
			expect(traffic.roundTrips).toBe(1)
			traffic.stop()
			const listing = catalogKeys(own.prefix)
			expect([await redis.zcard(listing.scheduled), await redis.zcard(listing.starts), await redis.zcard(listing.open)]).toEqual([0, 0, 600])
		} finally {
			await own.cleanup()
		}
	})

	test('a store an older version left (its index and schedule outside the catalog, no status sets) is listed, closed and moved over', async () => {
		const own = await ownStore()
		try {
			const ids: string[] = []
			for (let i = 0; i < 30; i++) {
				own.clock.set(T0 + i)
				ids.push((await own.d.create({ startsAt: i % 3 === 0 ? T0 + 10_000 : T0, endsAt: T0 + (i % 3 === 1 ? 5_000 : 60_000) })).id)
			}
			own.clock.set(T0 + 6_000)
			for (const id of await own.store.dueAuctions(100)) await own.store.closeAuction(id)
			// What an older gavel left: the auctions, the index and the schedule as single keys of their
			// own (`<prefix>:auctions`, `<prefix>:due`), no status sets.
			const listing = catalogKeys(own.prefix)
			const legacy = legacyCatalogKeys(own.prefix)
			await redis.rename(listing.index, legacy.index)
			await redis.rename(listing.due, legacy.due)
			const dueBefore = await redis.zrange(legacy.due, 0, -1, 'WITHSCORES')
			await redis.del(...Object.values(listing))
			const upgraded = createRedisBidStore({ redis: own.client, prefix: own.prefix, now: own.clock.now })
			const expected = (n: number) => ids.filter((_, i) => i % 3 === n).reverse()
			const list = async (status?: AuctionStatus) => (await upgraded.listAuctions({ status, limit: 50 })).items.map((v) => v.id)
			expect(await list()).toEqual([...ids].reverse())
			expect([await list('scheduled'), await list('open'), await list('closed')]).toEqual([expected(0), expected(2), expected(1)])
			expect(await redis.get(listing.indexed)).toBe('1')
			expect(await redis.zrange(listing.due, 0, -1, 'WITHSCORES')).toEqual(dueBefore)
			expect(await redis.exists(legacy.index, legacy.due)).toBe(0)
			own.clock.set(T0 + 10_000)
			expect([await list('scheduled'), await list('open')]).toEqual([[], ids.filter((_, i) => i % 3 !== 1).reverse()])
			own.clock.set(T0 + 60_000)
			expect((await upgraded.dueAuctions(100)).sort()).toEqual(ids.filter((_, i) => i % 3 !== 1).sort())
		} finally {
			await own.cleanup()
		}
	})
})

test('a value that is not the string or integer the script expects never reaches Lua', async () => {
	const redis = await connectRedis()
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis, prefix })
	try {
		const hostile = [
			{ auction: 'a1', bidder: ['a', 'b'] as unknown as string, amount: 1000 },
			{ auction: 'a1', bidder: 42 as unknown as string, amount: 1000 },
			{ auction: 'a1', bidder: 'bob', amount: 10.5 },
			{ auction: 'a1', bidder: 'bob', amount: 1000, maxAmount: '2000' as unknown as number },
			{ auction: 'a1', bidder: 'bob', amount: 1000, idempotencyKey: { k: 1 } as unknown as string },
		]
		for (const request of hostile) await expect(store.placeBid(request)).rejects.toThrow(TypeError)
	} finally {
		await deleteKeys(redis, prefix)
		await redis.quit()
	}
})

/**
 * creating runs `body` against a Redis store of its own whose create script is replaced by
 * `script(real)` for one create: a crash or a restart staged between the create's two steps.
 */
async function creating(
	id: string,
	script: (real: (...args: Array<string | number>) => Promise<number>, redis: Awaited<ReturnType<typeof connectRedis>>, prefix: string) => (...args: Array<string | number>) => Promise<number>,
	body: (h: { store: ReturnType<typeof createRedisBidStore>; clock: ReturnType<typeof testClock>; create: () => Promise<unknown>; createAgain: (createdAt?: number) => Promise<unknown> }) => Promise<void>,
) {
	const redis = await connectRedis()
	const prefix = uniqueName()
	const clock = testClock(Date.UTC(2030, 0, 1))
	const store = createRedisBidStore({ redis, prefix, now: clock.now })
	const { newAuction } = await import('../../src/domain/new-auction.ts')
	const { auctionCreated } = await import('../../src/events.ts')
	const record = newAuction({ id, title: 'Lamp', startingPrice: 1000, increment: 100, endsAt: clock.now() + 60_000 }, 'sam', clock.now())
	const json = JSON.stringify(auctionCreated(record))
	const target = redis as unknown as { gavelCreateAuction: (...args: Array<string | number>) => Promise<number> }
	const real = target.gavelCreateAuction.bind(redis)
	try {
		const create = async () => {
			target.gavelCreateAuction = script(real, redis, prefix)
			try {
				return await store.createAuction(record, json)
			} finally {
				target.gavelCreateAuction = real
			}
		}
		const createAgain = (createdAt = record.createdAt) => store.createAuction({ ...record, createdAt }, json)
		await body({ store, clock, create, createAgain })
	} finally {
		await deleteKeys(redis, prefix)
		await redis.quit()
	}
}

test('a create cut short between the global entries and the auction itself leaves nothing listed, and the closer drops the rest', async () => {
	// The process dies after its first writes: the auction's own script never runs.
	await creating('cut-short', () => () => Promise.reject(new Error('killed')), async ({ store, clock, create, createAgain }) => {
		await expect(create()).rejects.toThrow()
		for (const status of [undefined, 'open', 'scheduled', 'closed'] as const)
			expect((await store.listAuctions({ status, limit: 10 })).items).toEqual([])
		clock.advance(60_000)
		expect(await store.dueAuctions(10)).toEqual(['cut-short'])
		expect(await store.closeAuction('cut-short')).toEqual({ outcome: 'not-found' })
		expect(await store.dueAuctions(10)).toEqual([])
		// The id was never taken.
		clock.set(Date.UTC(2030, 0, 1))
		await createAgain()
		expect((await store.listAuctions({ limit: 10 })).items.map((a) => a.id)).toEqual(['cut-short'])
		// And an id that is taken takes back the entries of the attempt: listed once.
		await expect(createAgain(Date.UTC(2030, 0, 1) + 1)).rejects.toMatchObject({ code: 'EXISTS' })
		expect((await store.listAuctions({ limit: 10 })).items.map((a) => a.id)).toEqual(['cut-short'])
		expect((await store.listAuctions({ status: 'open', limit: 10 })).items.map((a) => a.id)).toEqual(['cut-short'])
	})
})

test('a Redis emptied between a create’s first entries and its script still lists and schedules the auction', async () => {
	// The restart: everything written so far is gone when the auction's own script runs.
	const emptied = (real: (...args: Array<string | number>) => Promise<number>, redis: Awaited<ReturnType<typeof connectRedis>>, prefix: string) =>
		async (...args: Array<string | number>) => {
			await deleteKeys(redis, prefix)
			return real(...args)
		}
	await creating('across-restart', emptied, async ({ store, clock, create }) => {
		await create()
		expect((await store.listAuctions({ limit: 10 })).items.map((a) => a.id)).toEqual(['across-restart'])
		expect((await store.listAuctions({ status: 'open', limit: 10 })).items.map((a) => a.id)).toEqual(['across-restart'])
		clock.advance(60_000)
		expect(await store.dueAuctions(10)).toEqual(['across-restart'])
	})
})
