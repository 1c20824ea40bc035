import { afterAll, describe, expect, test } from 'bun:test'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { auctionKeys } from '../../src/adapters/redis/keys.ts'
import { bidStoreContract, storeDriver } from '../contract/bid-store.ts'
import { testClock } from '../helpers/clock.ts'
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
})
