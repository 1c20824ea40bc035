import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis, { type Cluster } from 'ioredis'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { connectRedis, type RedisConnection } from '../../src/adapters/redis/connect.ts'
import { auctionKeys } from '../../src/adapters/redis/keys.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { startRedisCluster, type LocalRedisCluster } from '../../bench/cluster/redis-cluster.ts'
import { Children } from '../../bench/lib/servers.ts'
import { bidStoreContract, storeDriver } from '../contract/bid-store.ts'
import { testClock } from '../helpers/clock.ts'
import { uniqueName } from '../helpers/services.ts'

/**
 * The Redis store on a real Redis Cluster (3 primaries, 3 replicas, this suite's own processes on
 * free loopback ports): the whole BidStore contract, scripts that a node forgot, and a primary
 * SIGKILLed under concurrent bids, its replica promoted, every answered bid still there.
 * The store waits for one replica per write (REDIS_WAIT_REPLICAS' cluster default).
 */

const children = new Children()
let dir = ''
let cluster: LocalRedisCluster
let redis: RedisConnection

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-redis-cluster-'))
	cluster = await startRedisCluster({ dir, children, nodeTimeoutMs: 1_000 })
	redis = await connectRedis({ clusterNodes: cluster.seeds, waitTimeoutMs: 250, log: silentLogger() })
}, 60_000)
afterAll(async () => {
	await redis?.close()
	await cluster?.stop()
	await children.abort()
	await rm(dir, { recursive: true, force: true })
})

const client = () => redis.client as Cluster

/** Deletes a prefix's keys on every primary (each SCANs its own keys; DEL one key at a time: slots differ). */
async function deleteClusterKeys(prefix: string): Promise<void> {
	for (const node of client().nodes('master')) {
		let cursor = '0'
		do {
			const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
			cursor = next
			await Promise.all(keys.map((key) => client().del(key)))
		} while (cursor !== '0')
	}
}

/** The replica that follows the primary on `port` (ROLE on each replica names its primary). */
async function replicaOf(port: number) {
	for (const node of await cluster.replicas()) {
		const direct = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 0 })
		const role = (await direct.role().finally(() => direct.disconnect())) as [string, string, number]
		if (role[0] === 'slave' && Number(role[2]) === port) return node
	}
	throw new Error(`no replica follows 127.0.0.1:${port}`)
}

async function direct<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
	const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0 })
	try {
		return await use(redis)
	} finally {
		redis.disconnect()
	}
}

/**
 * Moves the key's slot from one primary to another as `redis-cli --cluster reshard` does: the
 * target imports, the source migrates, the keys go over a few at a time (meanwhile a command for a
 * key already moved gets ASK, a script whose keys are split gets TRYAGAIN), then every node learns
 * the new owner (MOVED from then on).
 */
async function migrateSlot(key: string, fromPort: number, toPort: number): Promise<void> {
	const slot = Number(await direct(fromPort, (r) => r.cluster('KEYSLOT', key)))
	const fromId = String(await direct(fromPort, (r) => r.cluster('MYID')))
	const toId = String(await direct(toPort, (r) => r.cluster('MYID')))
	await direct(toPort, (r) => r.cluster('SETSLOT', slot, 'IMPORTING', fromId))
	await direct(fromPort, (r) => r.cluster('SETSLOT', slot, 'MIGRATING', toId))
	for (;;) {
		const keys = (await direct(fromPort, (r) => r.cluster('GETKEYSINSLOT', slot, 2))) as string[]
		if (keys.length === 0) break
		await direct(fromPort, (r) => r.migrate('127.0.0.1', toPort, '', 0, 5_000, 'KEYS', ...keys))
		await Bun.sleep(20) // bids go on between the steps
	}
	for (const node of cluster.nodes) await direct(node.port, (r) => r.cluster('SETSLOT', slot, 'NODE', toId)).catch(() => {})
}

bidStoreContract('redis cluster', async (clock, { eventsKept, idempotencyKeysPerBidder }) => {
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis: client(), replication: redis.replication, prefix, now: clock.now, eventsKept, idempotencyKeysPerBidder })
	return { store, cleanup: () => deleteClusterKeys(prefix) }
})

describe('Redis Cluster', () => {
	test('auctions land on every shard, and listing, closing and reads gather them from all', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		const store = createRedisBidStore({ redis: client(), replication: redis.replication, prefix, now: clock.now })
		try {
			const d = storeDriver(store, clock)
			// Ids hash where they will: at least 12 auctions, more until every shard has some.
			const ids: string[] = []
			const shards = new Set<number>()
			while (ids.length < 12 || (shards.size < 3 && ids.length < 200)) {
				const { id } = await d.create({ endsAt: clock.now() + 60_000 + ids.length })
				ids.push(id)
				shards.add((await cluster.primaryOf(auctionKeys(prefix, id).state)).port)
			}
			expect(shards.size).toBe(3)
			await Promise.all(ids.map((id, i) => d.bid(id, 'bob', 1000 + i * 100)))
			const page = await store.listAuctions({ status: 'open', limit: 200 })
			expect(page.items.map((a) => a.id).sort()).toEqual([...ids].sort())
			expect((await store.seqs(ids)).every((seq) => seq === 1)).toBe(true)
			clock.advance(120_000)
			const due = await store.dueAuctions(200)
			expect(due.sort()).toEqual([...ids].sort())
			const outcomes = await Promise.all(due.map((id) => store.closeAuction(id)))
			expect(outcomes.every((o) => o.outcome === 'closed')).toBe(true)
			expect((await store.listAuctions({ status: 'closed', limit: 200 })).items).toHaveLength(ids.length)
			expect(await store.dueAuctions(100)).toEqual([])
		} finally {
			await deleteClusterKeys(prefix)
		}
	})

	test('a node that forgot the scripts (SCRIPT FLUSH, as after a restart or on a new primary) is sent them again', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		const store = createRedisBidStore({ redis: client(), replication: redis.replication, prefix, now: clock.now })
		try {
			const d = storeDriver(store, clock)
			const a = await d.create()
			await d.bid(a.id, 'bob', 1000)
			await Promise.all(client().nodes('master').map((node) => node.script('FLUSH')))
			const second = await d.bid(a.id, 'carol', 1100)
			expect(second.bid?.seq).toBe(2)
			expect((await d.create()).seq).toBe(0)
		} finally {
			await deleteClusterKeys(prefix)
		}
	})

	test('a write is answered once its replica holds it: while the replica cannot take it the bid waits; without waiting it would not', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		// Its own connection, with a timeout far beyond the test, so "waits" cannot mean "timed out".
		const patient = await connectRedis({ clusterNodes: cluster.seeds, waitReplicas: 1, waitTimeoutMs: 30_000, log: silentLogger() })
		const waiting = createRedisBidStore({ redis: patient.client, replication: patient.replication, prefix, now: clock.now })
		const notWaiting = createRedisBidStore({ redis: patient.client, replication: null, prefix, now: clock.now })
		let stopped: number | undefined
		try {
			const d = storeDriver(waiting, clock)
			const [a, b] = [await d.create(), await d.create()]
			const primary = await cluster.primaryOf(auctionKeys(prefix, a.id).state)
			const replica = await replicaOf(primary.port)
			await d.bid(a.id, 'bob', 1000) // the waiter knows the node has its replica
			stopped = replica.pid!
			process.kill(stopped, 'SIGSTOP') // the replica takes nothing more until SIGCONT
			let answered = false
			const placed = waiting.placeBid({ auction: a.id, bidder: 'carol', amount: 1100 }).then((p) => ((answered = true), p))
			// The same write without the wait is answered at once (on any node: it never waits).
			expect((await notWaiting.placeBid({ auction: b.id, bidder: 'carol', amount: 1000 })).leading).toBe(true)
			await Bun.sleep(400)
			expect(answered).toBe(false)
			process.kill(stopped, 'SIGCONT')
			stopped = undefined
			expect((await placed).leading).toBe(true)
		} finally {
			if (stopped !== undefined) process.kill(stopped, 'SIGCONT')
			await deleteClusterKeys(prefix)
			await patient.close()
		}
	})

	test('resharding under bids: an auction’s slot moves to another primary key by key (ASK, TRYAGAIN, MOVED), one that never ran the scripts', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		const store = createRedisBidStore({ redis: client(), replication: redis.replication, prefix, now: clock.now, eventsKept: 1_000_000 })
		try {
			const d = storeDriver(store, clock)
			const a = await d.create()
			const key = auctionKeys(prefix, a.id).state
			const from = await cluster.primaryOf(key)
			const to = (await cluster.primaries()).find((n) => n.port !== from.port)!
			const answered: number[] = []
			let stop = false
			let errors = 0
			const bidder = async (who: string, offset: number) => {
				for (let n = 1; !stop; n++) {
					try {
						const placed = await store.placeBid({ auction: a.id, bidder: who, amount: 1_000 + n * 1_000 + offset })
						answered.push((JSON.parse(placed.events[0]!) as { seq: number }).seq)
					} catch (err) {
						errors++
						if (errors <= 3) console.log(`resharding: a bid failed: ${(err as Error).message}`)
					}
				}
			}
			const load = [bidder('bob', 0), bidder('carol', 500)]
			await Bun.sleep(200)
			await direct(to.port, (r) => r.script('FLUSH'))
			await migrateSlot(key, from.port, to.port)
			const movedAt = answered.length
			while (answered.length < movedAt + 50) await Bun.sleep(20)
			stop = true
			await Promise.all(load)
			expect((await cluster.primaryOf(key)).port).toBe(to.port)
			expect(errors).toBe(0)
			const window = await store.eventsSince(a.id, 0)
			if (!window || window.reset) throw new Error('no event window')
			expect(window.seq).toBe(answered.length)
			expect(answered.toSorted((x, y) => x - y)).toEqual(Array.from({ length: answered.length }, (_, i) => i + 1))
		} finally {
			await deleteClusterKeys(prefix)
		}
	}, 30_000)

	// Last: it leaves the cluster with one primary replaced (waitHealthy puts the killed node back as a replica).
	test('a primary SIGKILLed under concurrent bids: its replica takes over, bids on its slots go on, and every answered bid is still there', async () => {
		const prefix = uniqueName()
		const clock = testClock()
		// A window that keeps every event of the run, to check each answered bid against it.
		const store = createRedisBidStore({ redis: client(), replication: redis.replication, prefix, now: clock.now, eventsKept: 1_000_000 })
		try {
			const d = storeDriver(store, clock)
			const ids: string[] = []
			for (let i = 0; i < 9; i++) ids.push((await d.create()).id)
			const victim = await cluster.primaryOf(auctionKeys(prefix, ids[0]!).state)
			const onVictim = (
				await Promise.all(ids.map(async (id) => ((await cluster.primaryOf(auctionKeys(prefix, id).state)).port === victim.port ? id : null)))
			).filter((id): id is string => id !== null)
			// Each answered bid, by auction: its seq and event id. A bid whose answer was an error may or
			// may not have been placed (its retry would decide); an answered one must be in the store.
			const answered = new Map<string, Array<{ seq: number; event: string }>>(ids.map((id) => [id, []]))
			const lastAnswerAt = new Map<string, number>()
			let stop = false
			let errors = 0
			const bidder = async (id: string, who: string) => {
				for (let n = 1; !stop; n++) {
					const sentAt = performance.now()
					try {
						const placed = await store.placeBid({ auction: id, bidder: who, amount: 1_000 + n * 1_000 + (who === 'bob' ? 0 : 500), idempotencyKey: `${who}-${n}` })
						const event = JSON.parse(placed.events[0]!) as { id: string; seq: number }
						answered.get(id)!.push({ seq: event.seq, event: event.id })
						// Resumed means a bid sent once the primary was dead got its answer.
						if (sentAt > killedAt) lastAnswerAt.set(id, performance.now())
					} catch {
						errors++
						await Bun.sleep(20)
					}
				}
			}
			let killedAt = Number.POSITIVE_INFINITY
			const load = ids.flatMap((id) => [bidder(id, 'bob'), bidder(id, 'carol')])
			await Bun.sleep(700)
			await cluster.kill(victim, 'SIGKILL') // resolves once the process is gone
			killedAt = performance.now()
			// Bids on the victim's slots resume once its replica is promoted.
			const deadline = Date.now() + 20_000
			while (onVictim.some((id) => !lastAnswerAt.has(id)) && Date.now() < deadline) await Bun.sleep(50)
			const resumedAfterMs = Math.max(...onVictim.map((id) => (lastAnswerAt.get(id) ?? Infinity) - killedAt))
			await Bun.sleep(500)
			stop = true
			await Promise.all(load)
			console.log(`failover: bids on the killed primary's ${onVictim.length} auctions resumed after ${Math.round(resumedAfterMs)} ms (${errors} bids answered with an error meanwhile)`)
			expect(resumedAfterMs).toBeLessThan(20_000)

			// Every answered bid is in the promoted replica's store, at its seq, and the seqs are dense.
			for (const id of ids) {
				const window = await store.eventsSince(id, 0)
				if (!window || window.reset) throw new Error(`no event window for ${id}`)
				const bySeq = new Map(window.items.map((json) => {
					const event = JSON.parse(json) as { id: string; seq: number }
					return [event.seq, event.id] as const
				}))
				expect([...bySeq.keys()]).toEqual(Array.from({ length: window.seq }, (_, i) => i + 1))
				for (const { seq, event } of answered.get(id)!) expect(bySeq.get(seq)).toBe(event)
			}
			await cluster.restart(victim)
			await cluster.waitHealthy(30_000)
		} finally {
			await deleteClusterKeys(prefix).catch(() => {})
		}
	}, 60_000)
})
