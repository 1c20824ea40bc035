import { expect, test } from 'bun:test'
import { createRateLimiter } from '../../src/modules/limits/rate-limiter.ts'

test('a bucket allows the burst, then one token per 1/rate seconds, per key', () => {
	let t = 0
	const limiter = createRateLimiter({ perSecond: 2, burst: 3, now: () => t })
	expect([1, 2, 3, 4].map(() => limiter.take('bob'))).toEqual([0, 0, 0, 1])
	expect(limiter.take('carol')).toBe(0)
	t += 499
	expect(limiter.take('bob')).toBe(1)
	t += 1
	expect(limiter.take('bob')).toBe(0)
	t += 10_000
	expect([1, 2, 3, 4].map(() => limiter.take('bob'))).toEqual([0, 0, 0, 1])
	limiter.close()
})

test('Retry-After rounds the wait up to whole seconds', () => {
	const limiter = createRateLimiter({ perSecond: 0.25, burst: 1, now: () => 0 })
	expect(limiter.take('bob')).toBe(0)
	expect(limiter.take('bob')).toBe(4)
	limiter.close()
})

test('a rate or burst of 0 turns limiting off', () => {
	for (const limiter of [createRateLimiter({ perSecond: 0, burst: 10 }), createRateLimiter({ perSecond: 10, burst: 0 })]) {
		expect(Array.from({ length: 1000 }, () => limiter.take('bob')).every((w) => w === 0)).toBe(true)
		limiter.close()
	}
})
