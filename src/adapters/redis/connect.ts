import Redis, { Cluster } from 'ioredis'
import { StartupError } from '../../errors.ts'
import type { Logger } from '../../observability/log.ts'
import { describeClusterNodes, parseClusterNodes } from './cluster-nodes.ts'
import { createReplicationWaiter, type ReplicationWaiter } from './replication.ts'

export interface RedisConnectionOptions {
	/** One node (REDIS_URL), or … */
	url?: string
	/** … the seed nodes of a cluster (REDIS_CLUSTER_NODES). */
	clusterNodes?: string
	/** Applied to every node of a cluster (REDIS_PASSWORD, REDIS_TLS), as a rediss://:password@ seed would. */
	password?: string
	tls?: boolean
	/** Replicas a write must reach before it is answered (REDIS_WAIT_REPLICAS); unset: 1 on a cluster, 0 on one node. */
	waitReplicas?: number
	waitTimeoutMs: number
	log: Logger
	/** Counts rounds whose writes reached fewer replicas than asked. */
	onShortReplication?: (acked: number, writes: number) => void
}

export interface RedisConnection {
	client: Redis | Cluster
	/** Null when writes need not wait for replicas (REDIS_WAIT_REPLICAS=0). */
	replication: ReplicationWaiter | null
	/** For messages: the URL without its password, or the cluster's seed nodes. */
	describe: string
	close(): Promise<void>
}

/** How often a connection error is logged at most while ioredis reconnects. */
const ERROR_LOG_EVERY_MS = 10_000

/**
 * connectRedis opens the store's connection: one node, or ioredis' Cluster client, which finds
 * every node from the seeds, sends each key's commands to its slot's primary, follows MOVED/ASK
 * and picks up a promoted replica (docs/design.md §6, "Redis Cluster"). Lua scripts need no
 * loading step: ioredis sends EVALSHA and, on a node that answers NOSCRIPT (a new primary, a
 * restarted node, SCRIPT FLUSH), the script itself once.
 */
export async function connectRedis(options: RedisConnectionOptions): Promise<RedisConnection> {
	const { log } = options
	let client: Redis | Cluster
	let describe: string
	if (options.clusterNodes) {
		const parsed = parseClusterNodes(options.clusterNodes)
		if ('problems' in parsed) throw new Error(`REDIS_CLUSTER_NODES: ${parsed.problems.join('; ')}`)
		const { nodes, username } = parsed.nodes
		const password = parsed.nodes.password ?? options.password
		const tls = parsed.nodes.tls || options.tls === true
		describe = describeClusterNodes({ ...parsed.nodes, tls })
		client = new Cluster(nodes, {
			// Auto-pipelining batches concurrent bids' EVALSHAs into one write per node and tick.
			enableAutoPipelining: true,
			lazyConnect: true,
			redisOptions: { username, password, tls: tls ? {} : undefined, maxRetriesPerRequest: 2 },
			// Keep the names the nodes announce: with TLS (ElastiCache) the certificate is for them.
			dnsLookup: (address, callback) => callback(null, address),
			slotsRefreshTimeout: 2_000,
			// A failover takes a node timeout or two: commands to the lost primary's slots retry until
			// its replica is promoted, within their request's budget.
			retryDelayOnFailover: 200,
			retryDelayOnClusterDown: 200,
			clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
		})
	} else if (options.url) {
		describe = options.url
		client = new Redis(options.url, { enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 2 })
	} else {
		throw new Error('connectRedis: REDIS_URL or REDIS_CLUSTER_NODES is required')
	}
	const what = options.clusterNodes ? 'Redis Cluster' : 'Redis'
	// ioredis reports connection trouble as 'error' events while it reconnects: log them (at most
	// every 10 s), and name the first one if the very first connect fails.
	let lastError: Error | null = null
	let loggedAt = 0
	client.on('error', (err: Error) => {
		lastError = err
		if (Date.now() - loggedAt < ERROR_LOG_EVERY_MS) return
		loggedAt = Date.now()
		log.warn({ err: err.message }, `${what} connection error; ioredis keeps reconnecting`)
	})
	if (client instanceof Cluster) client.on('+node', () => log.debug('Redis Cluster: node added to the slot map'))
	await client.connect().catch((err: unknown) => {
		client.disconnect()
		throw new StartupError(what, describe, { cause: lastError ?? err })
	})

	const replicas = options.waitReplicas ?? (options.clusterNodes ? 1 : 0)
	let waiterClient: Redis | Cluster | null = null
	let replication: ReplicationWaiter | null = null
	if (replicas > 0) {
		// WAIT blocks the connection it is sent on: the waiter has its own, the scripts keep theirs.
		waiterClient = client.duplicate()
		waiterClient.on('error', () => {}) // the store's own client logs the same trouble
		await waiterClient.connect().catch((err: unknown) => {
			waiterClient?.disconnect()
			client.disconnect()
			throw new StartupError(what, describe, { cause: err })
		})
		replication = createReplicationWaiter({
			client: waiterClient,
			writer: client,
			replicas,
			timeoutMs: options.waitTimeoutMs,
			onShort: options.onShortReplication,
		})
		await warnWithoutReplicas(client, replicas, log)
	}
	return {
		client,
		replication,
		describe,
		async close() {
			await Promise.all([client.quit().catch(() => client.disconnect()), waiterClient?.quit().catch(() => waiterClient?.disconnect())])
		},
	}
}

/** A primary with fewer connected replicas than writes wait for makes every write wait its timeout. */
async function warnWithoutReplicas(client: Redis | Cluster, replicas: number, log: Logger): Promise<void> {
	const primaries = client instanceof Cluster ? client.nodes('master') : [client]
	const counts = await Promise.all(
		primaries.map(async (node) => {
			const info = await node.info('replication').catch(() => '')
			return { node: `${node.options.host}:${node.options.port}`, replicas: Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) }
		}),
	)
	const short = counts.filter((c) => c.replicas < replicas)
	if (short.length > 0)
		log.warn(
			{ primaries: short, waitReplicas: replicas },
			'REDIS_WAIT_REPLICAS asks for more replicas than these primaries have: their writes wait REDIS_WAIT_TIMEOUT_MS each round and are not protected against failover',
		)
}
