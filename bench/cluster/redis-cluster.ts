import Redis from 'ioredis'
import { join } from 'node:path'
import { Children, freePorts, ownServer, requireBinary, waitForPort } from '../lib/servers.ts'
import { createNodeSet } from './node-set.ts'

/**
 * A Redis Cluster on loopback for trying gavel on a sharded store (issue 15): N primaries, each
 * with its replicas, formed by `redis-cli --cluster create`. No persistence: a node that
 * restarts comes back empty and, once the cluster promoted its replica, rejoins as a replica
 * and copies its new primary. Processes are ours by pid; the machine's 6379 is never touched.
 */

export const REDIS_CLUSTER_SLOTS = 16384
const HOST = '127.0.0.1'

export interface RedisClusterNode {
	/** redis-1, redis-2, …: the order of `redis-cli --cluster create`, which makes the first ones primaries. */
	readonly name: string
	readonly host: string
	readonly port: number
	/** The cluster bus (gossip, failover votes), a free port of its own rather than port + 10000. */
	readonly busPort: number
	/** Its --dir: nodes.conf and redis.log. */
	readonly dir: string
	readonly url: string
	/** The running process, undefined after kill(). */
	readonly pid: number | undefined
}

export interface RedisClusterOptions {
	/** Everything the cluster writes goes under it (a dir per node); stop() removes it. */
	dir: string
	/** Where the processes are registered for kill-on-abort (not used when detached). */
	children?: Children
	primaries?: number
	replicasPerPrimary?: number
	/** cluster-node-timeout: how long a silent primary has before its replica takes over. */
	nodeTimeoutMs?: number
	/** The servers outlive this process (`bun run cluster up`); each one's stdout goes to <node dir>/stdout.log. */
	detached?: boolean
	/** How long forming the cluster may take. */
	startTimeoutMs?: number
}

export interface LocalRedisCluster {
	readonly dir: string
	readonly nodes: readonly RedisClusterNode[]
	/** "127.0.0.1:p1,127.0.0.1:p2,…": REDIS_CLUSTER_NODES. */
	readonly seeds: string
	/** The nodes that are primaries now (ROLE on every running node). */
	primaries(): Promise<RedisClusterNode[]>
	replicas(): Promise<RedisClusterNode[]>
	/** The node serving the key's slot now (CLUSTER KEYSLOT, then CLUSTER SLOTS). */
	primaryOf(key: string): Promise<RedisClusterNode>
	/** Kills the node by pid and waits for it to exit. */
	kill(node: RedisClusterNode, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
	/** Starts a killed node again on its port, dir and nodes.conf; it finds the cluster and rejoins it. */
	restart(node: RedisClusterNode): Promise<void>
	/** Resolves once every running node says cluster_state:ok, agrees on a primary for all 16384 slots, and every replica is linked. */
	waitHealthy(ms?: number): Promise<void>
	/** Stops every node by pid and removes the dir. */
	stop(): Promise<void>
}

/** One node's answers to CLUSTER INFO, ROLE and CLUSTER SLOTS (or why there are none). */
export interface RedisNodeProbe {
	port: number
	/** Why the node did not answer; undefined when it did. */
	error?: string
	/** cluster_state: ok or fail. */
	state?: string
	/** Slots assigned to a primary that this node does not think failing. */
	slotsOk?: number
	role?: 'primary' | 'replica'
	/** A replica's primary, and whether its replication link is up (ROLE says connected). */
	primaryPort?: number
	linked?: boolean
	/** This node's view of the slot map: each range and the port of the primary serving it. */
	slots?: Array<{ start: number; end: number; port: number }>
}

async function withNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
	// A short-lived connection that never retries: a probe of a dead node must fail at once.
	const redis = new Redis({ host: HOST, port, lazyConnect: true, connectTimeout: 1_000, commandTimeout: 2_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
	redis.on('error', () => {})
	try {
		await redis.connect()
		return await use(redis)
	} finally {
		redis.disconnect()
	}
}

/** Asks one node what it is and what it sees; never throws (an unreachable node is a probe with `error`). */
export async function probeRedisNode(port: number): Promise<RedisNodeProbe> {
	try {
		return await withNode(port, async (redis) => {
			const info = String(await redis.call('CLUSTER', 'INFO'))
			const role = (await redis.call('ROLE')) as unknown[]
			const slots = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>
			const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1]
			const probe: RedisNodeProbe = {
				port,
				state: field('cluster_state'),
				slotsOk: Number(field('cluster_slots_ok') ?? 0),
				role: role[0] === 'master' ? 'primary' : 'replica',
				slots: slots.map(([start, end, [, primaryPort]]) => ({ start, end, port: Number(primaryPort) })).sort((a, b) => a.start - b.start),
			}
			if (role[0] === 'slave') {
				probe.primaryPort = Number(role[2])
				probe.linked = role[3] === 'connected'
			}
			return probe
		})
	} catch (err) {
		return { port, error: (err as Error).message || 'no answer' }
	}
}

/**
 * What keeps the cluster from being healthy, judged from the running nodes' probes: each says
 * cluster_state:ok with every slot ok, all of them see the same slot map covering every slot,
 * each range served by a running node that is a primary, and each replica linked to a running
 * primary. Empty when healthy.
 */
export function redisClusterProblems(probes: RedisNodeProbe[], nameOf: (port: number) => string = String): string[] {
	const problems: string[] = []
	const byPort = new Map(probes.map((p) => [p.port, p]))
	let reference: string | undefined
	for (const probe of probes) {
		const name = nameOf(probe.port)
		if (probe.error !== undefined) {
			problems.push(`${name} does not answer (${probe.error})`)
			continue
		}
		if (probe.state !== 'ok') problems.push(`${name}: cluster_state:${probe.state}`)
		if (probe.slotsOk !== REDIS_CLUSTER_SLOTS) problems.push(`${name}: ${probe.slotsOk} of ${REDIS_CLUSTER_SLOTS} slots ok`)
		const slots = probe.slots ?? []
		const covered = slots.reduce((sum, r) => sum + r.end - r.start + 1, 0)
		if (covered !== REDIS_CLUSTER_SLOTS) problems.push(`${name} sees ${covered} of ${REDIS_CLUSTER_SLOTS} slots with a primary`)
		for (const range of slots) {
			const owner = byPort.get(range.port)
			if (!owner || owner.error !== undefined) problems.push(`${name} sees slots ${range.start}-${range.end} on ${nameOf(range.port)}, which is not running`)
			else if (owner.role !== 'primary') problems.push(`${name} sees slots ${range.start}-${range.end} on ${nameOf(range.port)}, which is a replica`)
		}
		const view = JSON.stringify(slots)
		reference ??= view
		if (view !== reference) problems.push(`${name} sees another slot map than ${nameOf(probes.find((p) => p.error === undefined)!.port)}`)
		if (probe.role === 'replica') {
			const primary = byPort.get(probe.primaryPort ?? -1)
			if (!primary || primary.error !== undefined) problems.push(`${name} replicates ${nameOf(probe.primaryPort ?? -1)}, which is not running`)
			else if (!probe.linked) problems.push(`${name}: its link to ${nameOf(primary.port)} is not up`)
		}
	}
	return [...new Set(problems)]
}

export async function startRedisCluster(options: RedisClusterOptions): Promise<LocalRedisCluster> {
	const { dir, primaries = 3, replicasPerPrimary = 1, nodeTimeoutMs = 1_000, detached = false, startTimeoutMs = 60_000 } = options
	const children = options.children ?? new Children()
	if (primaries < 3) throw new Error(`a Redis Cluster needs at least 3 primaries (got ${primaries})`)
	requireBinary('redis-server', 'the local Redis Cluster runs its own nodes')
	requireBinary('redis-cli', 'it forms the local Redis Cluster')
	const count = primaries * (1 + replicasPerPrimary)
	const ports = freePorts(count * 2)
	const set = createNodeSet<RedisClusterNode>({ dir, children, detached })
	for (let i = 0; i < count; i++) {
		const port = ports[i]!
		const busPort = ports[count + i]!
		const name = `redis-${i + 1}`
		const nodeDir = join(dir, name)
		const server = ownServer({
			name,
			port,
			url: `redis://${HOST}:${port}`,
			argv: () => [
				'redis-server',
				...['--port', String(port), '--bind', HOST, '--dir', nodeDir, '--logfile', join(nodeDir, 'redis.log')],
				...['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(nodeDir, 'nodes.conf')],
				...['--cluster-node-timeout', String(nodeTimeoutMs)],
				// A replica takes over however long it was cut off: a laptop that slept must not leave slots without a primary.
				...['--cluster-replica-validity-factor', '0'],
				...['--save', '', '--appendonly', 'no'],
				// A replica's full sync starts at once instead of waiting 5 s for other replicas to share it.
				...['--repl-diskless-sync-delay', '0'],
			],
			ready: () => waitForPort(port, name),
			children,
			detachedLog: detached ? join(nodeDir, 'stdout.log') : undefined,
		})
		const node: RedisClusterNode = {
			name,
			host: HOST,
			port,
			busPort,
			dir: nodeDir,
			url: server.url,
			get pid() {
				return server.pid
			},
		}
		set.add(node, server)
	}
	const { nodes, running } = set
	const nameOf = (port: number) => nodes.find((n) => n.port === port)?.name ?? `127.0.0.1:${port}`
	const byRole = async (role: RedisNodeProbe['role']) => {
		const live = running()
		const probes = await Promise.all(live.map((n) => probeRedisNode(n.port)))
		return live.filter((_, i) => probes[i]!.role === role && probes[i]!.error === undefined)
	}
	const problems = async () => {
		const live = running()
		return live.length === 0 ? ['no node is running'] : redisClusterProblems(await Promise.all(live.map((n) => probeRedisNode(n.port))), nameOf)
	}

	const cluster: LocalRedisCluster = {
		dir,
		nodes,
		seeds: nodes.map((n) => `${HOST}:${n.port}`).join(','),
		primaries: () => byRole('primary'),
		replicas: () => byRole('replica'),
		async primaryOf(key) {
			const [asked] = running()
			if (!asked) throw new Error('no node of the cluster is running')
			const slot = Number(await withNode(asked.port, (redis) => redis.call('CLUSTER', 'KEYSLOT', key)))
			const probe = await probeRedisNode(asked.port)
			const range = probe.slots?.find((r) => r.start <= slot && slot <= r.end)
			const node = nodes.find((n) => n.port === range?.port)
			if (!node) throw new Error(`${asked.name} knows no primary for slot ${slot} (key ${JSON.stringify(key)})${probe.error ? `: ${probe.error}` : ''}`)
			return node
		},
		kill: set.kill,
		restart: set.restart,
		waitHealthy: (ms = 30_000) => set.waitUntilNone(problems, 'the Redis Cluster', ms),
		stop: set.stop,
	}

	try {
		await set.startAll()
		await formCluster(nodes, replicasPerPrimary, children, startTimeoutMs)
		await cluster.waitHealthy(startTimeoutMs)
		return cluster
	} catch (err) {
		await cluster.stop()
		throw err
	}
}

/** `redis-cli --cluster create`: assigns the slots, pairs replicas with primaries, and waits for the nodes to meet. */
async function formCluster(nodes: readonly RedisClusterNode[], replicasPerPrimary: number, children: Children, timeoutMs: number): Promise<void> {
	const argv = ['redis-cli', '--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicasPerPrimary), '--cluster-yes']
	const proc = children.add(Bun.spawn(argv, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' }))
	const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
	try {
		const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
		const text = `${out}${err}`.replace(/\x1b\[[0-9;]*m/g, '')
		if (code !== 0 || !text.includes(`All ${REDIS_CLUSTER_SLOTS} slots covered`)) throw new Error(`redis-cli --cluster create failed (${code}):\n${text.slice(-2000)}`)
	} finally {
		clearTimeout(timer)
	}
}
