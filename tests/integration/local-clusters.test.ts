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
import { isRunning, readState, type ProcessRecord } from '../../bench/cluster/state.ts'
import { connectPostgres, uniqueName } from '../helpers/services.ts'

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

async function cluster(...argv: string[]) {
	const proc = Bun.spawn(['bun', new URL('../../bench/cluster/main.ts', import.meta.url).pathname, ...argv], { stdout: 'pipe', stderr: 'pipe' })
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	return { stdout, stderr, code }
}

test('bun run cluster up --no-gavel: servers that outlive the command, status while healthy and with a node down, down undoes all of it', async () => {
	const stateDir = join(dir, 'state')
	const database = uniqueName('gtest_cluster')
	const sql = await connectPostgres()
	let servers: ProcessRecord[] = []
	try {
		const up = await cluster('up', '--no-gavel', '--dir', stateDir, '--database-name', database)
		expect(up.code).toBe(0)
		const state = readState(stateDir)!
		expect(state.phase).toBe('up')
		servers = [...state.redis!.nodes, ...state.nats!.nodes]
		expect(servers).toHaveLength(9)
		// `up` has exited: its servers run on.
		expect(servers.filter((s) => !isRunning(s)).map((s) => s.name)).toEqual([])
		expect(up.stdout).toContain(`REDIS_CLUSTER_NODES=${state.redis!.seeds}`)
		expect(up.stdout).toContain(`NATS_URL=${state.nats!.url}`)
		expect(up.stdout).toContain(`DATABASE_URL=postgres://postgres@127.0.0.1:5432/${database}`)
		expect(await sql`select 1 from pg_database where datname = ${database}`).toHaveLength(1)

		const healthy = await cluster('status', '--dir', stateDir)
		expect(healthy.stdout).toContain('redis cluster: healthy')
		expect(healthy.stdout).toContain('nats cluster: healthy')
		expect(healthy.code).toBe(0)

		process.kill(state.nats!.nodes[0]!.pid, 'SIGKILL')
		const degraded = await cluster('status', '--dir', stateDir)
		expect(degraded.code).toBe(1)
		expect(degraded.stdout).toMatch(/nats-1 +pid \d+ DOWN/)

		const down = await cluster('down', '--dir', stateDir)
		expect(down.code).toBe(0)
		expect(down.stdout).toContain('nats nats-1')
		expect(down.stdout).toContain(`dropped database ${database}`)
		expect(servers.filter(isRunning).map((s) => s.name)).toEqual([])
		expect(existsSync(stateDir)).toBe(false)
		expect(await sql`select 1 from pg_database where datname = ${database}`).toHaveLength(0)
	} finally {
		for (const server of servers) if (isRunning(server)) process.kill(server.pid, 'SIGKILL')
		await sql.unsafe(`drop database if exists ${database} with (force)`)
		await sql.end({ timeout: 5 })
	}
}, 90_000)
