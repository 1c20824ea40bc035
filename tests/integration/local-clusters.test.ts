import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis, { Cluster } from 'ioredis'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { startRedisCluster, probeRedisNode } from '../../bench/cluster/redis-cluster.ts'
import { startNatsCluster } from '../../bench/cluster/nats-cluster.ts'
import { Children, pidRunning } from '../../bench/lib/servers.ts'

/**
 * The local cluster launchers (bench/cluster/) start real clusters that survive the loss of a
 * node: a Redis Cluster whose replica takes over a killed primary's slots, and a NATS cluster
 * whose R3 stream keeps taking publishes with one server gone. Every process is the test's own,
 * on free loopback ports, stopped by pid.
 */

const children = new Children()
let dir = ''

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-local-clusters-'))
})
afterAll(async () => {
	await children.abort()
	await rm(dir, { recursive: true, force: true })
})

/** Retries `attempt` until it returns without throwing; fails with the last error after `ms`. */
async function eventually<T>(attempt: () => Promise<T>, ms = 20_000): Promise<T> {
	const deadline = Date.now() + ms
	for (;;) {
		try {
			return await attempt()
		} catch (err) {
			if (Date.now() > deadline) throw err
			await Bun.sleep(100)
		}
	}
}

async function direct<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
	const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null })
	redis.on('error', () => {})
	try {
		return await use(redis)
	} finally {
		redis.disconnect()
	}
}

test('a Redis Cluster: keys on every shard, a killed primary replaced by its replica, the old primary back as a replica', async () => {
	const clusterDir = join(dir, 'redis')
	const cluster = await startRedisCluster({ dir: clusterDir, children })
	const client = new Cluster(
		cluster.seeds.split(',').map((seed) => ({ host: seed.split(':')[0]!, port: Number(seed.split(':')[1]) })),
		{ clusterRetryStrategy: () => 100, slotsRefreshTimeout: 2_000, redisOptions: { connectTimeout: 1_000, maxRetriesPerRequest: 1 } },
	)
	client.on('error', () => {})
	try {
		expect(cluster.nodes).toHaveLength(6)
		expect(cluster.seeds).toBe(cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(','))
		const primaries = await cluster.primaries()
		expect(primaries).toHaveLength(3)
		expect(await cluster.replicas()).toHaveLength(3)

		// One key on each shard, written and read through the cluster client.
		const keyOn = new Map<string, string>()
		for (let i = 0; keyOn.size < 3 && i < 200; i++) {
			const key = `local-cluster:${i}`
			const node = await cluster.primaryOf(key)
			if (!keyOn.has(node.name)) keyOn.set(node.name, key)
		}
		expect([...keyOn.keys()].sort()).toEqual(primaries.map((p) => p.name).sort())
		for (const key of keyOn.values()) await client.set(key, `v:${key}`)
		for (const [name, key] of keyOn) {
			expect(await client.get(key)).toBe(`v:${key}`)
			// primaryOf named the node that holds it: asked directly, it answers (no MOVED).
			const node = cluster.nodes.find((n) => n.name === name)!
			expect(await direct(node.port, (r) => r.get(key))).toBe(`v:${key}`)
		}

		const [victimName, key] = [...keyOn][0]!
		const victim = cluster.nodes.find((n) => n.name === victimName)!
		const replicaPort = (await Promise.all(cluster.nodes.map((n) => probeRedisNode(n.port)))).find((p) => p.primaryPort === victim.port)!.port
		const replica = cluster.nodes.find((n) => n.port === replicaPort)!
		// The replica has the key before its primary dies (replication is asynchronous).
		await eventually(async () => expect(await direct(replica.port, async (r) => (await r.call('READONLY'), r.get(key)))).toBe(`v:${key}`))

		const victimPid = victim.pid!
		await cluster.kill(victim, 'SIGKILL')
		expect(pidRunning(victimPid)).toBe(false)
		await cluster.waitHealthy(30_000)
		expect((await cluster.primaryOf(key)).name).toBe(replica.name)
		expect((await cluster.primaries()).map((n) => n.name)).toContain(replica.name)
		expect(await eventually(() => client.get(key))).toBe(`v:${key}`)
		await eventually(() => client.set(key, 'after failover'))

		await cluster.restart(victim)
		await cluster.waitHealthy(30_000)
		expect((await cluster.replicas()).map((n) => n.name)).toContain(victim.name)
		expect(await client.get(key)).toBe('after failover')
	} finally {
		client.disconnect()
		const pids = cluster.nodes.map((n) => n.pid).filter((pid) => pid !== undefined)
		await cluster.stop()
		expect(pids.filter((pid) => pidRunning(pid))).toEqual([])
		expect(existsSync(clusterDir)).toBe(false)
	}
}, 90_000)

test('a NATS cluster: an R3 stream keeps taking publishes when its leader is killed, and the node comes back', async () => {
	const clusterDir = join(dir, 'nats')
	const cluster = await startNatsCluster({ dir: clusterDir, children })
	const nc = await connect({ servers: cluster.url.split(','), timeout: 3_000, reconnectTimeWait: 100 })
	try {
		expect(cluster.nodes).toHaveLength(3)
		expect(cluster.url).toBe(cluster.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(','))
		const jsm = await jetstreamManager(nc)
		const js = jetstream(nc, { timeout: 2_000 })
		await jsm.streams.add({ name: 'LOCAL_CLUSTER', subjects: ['local.cluster.>'], num_replicas: 3 })
		await js.publish('local.cluster.a', 'before')
		const info = await jsm.streams.info('LOCAL_CLUSTER')
		expect(info.cluster?.replicas?.length).toBe(2)
		const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader)!
		expect(leader).toBeDefined()

		await cluster.kill(leader, 'SIGKILL')
		const ack = await eventually(() => js.publish('local.cluster.a', 'after'), 30_000)
		expect(ack.seq).toBe(2)
		const after = await eventually(() => jsm.streams.info('LOCAL_CLUSTER'))
		expect(after.cluster?.leader).not.toBe(leader.name)

		await cluster.restart(leader)
		await cluster.waitHealthy(30_000)
		expect((await jsm.streams.info('LOCAL_CLUSTER')).state.messages).toBe(2)
	} finally {
		await nc.close()
		const pids = cluster.nodes.map((n) => n.pid).filter((pid) => pid !== undefined)
		await cluster.stop()
		expect(pids.filter((pid) => pidRunning(pid))).toEqual([])
		expect(existsSync(clusterDir)).toBe(false)
	}
}, 90_000)
