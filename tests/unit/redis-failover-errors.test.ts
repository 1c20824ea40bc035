// A Redis Cluster failover answers some commands "not served here" (MOVED, READONLY, …): the
// command did not run, so the store says 503 UNAVAILABLE (retry) and refreshes its slot map,
// never a 500. The chaos suite's cluster run found these as 500s: ioredis does not follow the
// redirects of an auto-pipelined batch whose commands got different ones.
import { describe, expect, test } from 'bun:test'
import { Cluster, ReplyError } from 'ioredis'
import { createRedisBidStore, notServedHere } from '../../src/adapters/redis/bid-store.ts'
import { UnavailableError } from '../../src/errors.ts'

/** A Cluster client that knows the store's scripts and answers every bid with `reply`. */
function fakeCluster(reply: () => Promise<unknown>) {
	const calls = { refreshed: 0 }
	const client = Object.assign(Object.create(Cluster.prototype) as Cluster, {
		defineCommand() {},
		gavelPlaceBid: reply,
		refreshSlotsCache() {
			calls.refreshed++
		},
	})
	return { client, calls }
}

const bid = { auction: 'lamp', bidder: 'alice', amount: 1_000 }

describe('a Redis Cluster failover is a 503, not a 500', () => {
	test.each([
		'MOVED 3999 127.0.0.1:7001',
		'ASK 3999 127.0.0.1:7001',
		'TRYAGAIN Multiple keys request during rehashing of slot',
		'CLUSTERDOWN The cluster is down',
		"READONLY You can't write against a read only replica. script: 36d8, on @user_script:64.",
		'LOADING Redis is loading the dataset in memory',
	])('%s: UNAVAILABLE, and the slot map is refreshed', async (message) => {
		const { client, calls } = fakeCluster(() => Promise.reject(new ReplyError(message)))
		const store = createRedisBidStore({ redis: client, prefix: 't' })
		const err = await store.placeBid(bid).catch((e: unknown) => e)
		expect(err).toBeInstanceOf(UnavailableError)
		expect(calls.refreshed).toBe(1)
	})

	test('a script error is still passed on as it is (a bug, not an outage), with no refresh', async () => {
		const { client, calls } = fakeCluster(() => Promise.reject(new ReplyError('ERR user_script:12: Script attempted to access nonexistent global variable')))
		const store = createRedisBidStore({ redis: client, prefix: 't' })
		const err = await store.placeBid(bid).catch((e: unknown) => e)
		expect(err).toBeInstanceOf(ReplyError)
		expect(err).not.toBeInstanceOf(UnavailableError)
		expect(calls.refreshed).toBe(0)
	})

	test('notServedHere reads the reply, not any error that mentions a redirect', () => {
		expect(notServedHere(new ReplyError('MOVED 1 127.0.0.1:1'))).toBe(true)
		expect(notServedHere(new ReplyError('ERR MOVED is not a command'))).toBe(false)
		expect(notServedHere(new Error('MOVED 1 127.0.0.1:1'))).toBe(false)
	})
})
