import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { auctionKeys, catalogKeys } from '../../src/adapters/redis/keys.ts'
import type { LocalNatsCluster, NatsClusterNode } from '../cluster/nats-cluster.ts'
import type { LocalRedisCluster, RedisClusterNode } from '../cluster/redis-cluster.ts'
import type { Stack } from './stack.ts'

/**
 * The faults of a chaos run, one component at a time (docs/design.md §6, "The durability
 * promise"): each takes a component away (`inject`) and, after `downMs`, brings it back
 * (`restore`); the run then waits until bids are accepted again.
 */
export interface Fault {
	name: string
	title: string
	/** How long the component stays away. */
	downMs: number
	/** What its recovery takes beyond `downMs`, for the timetable (default: a process start). */
	recoveryAllowanceMs?: number
	inject(): Promise<void>
	restore(): Promise<void>
	/**
	 * What the run waits for after `restore`, beyond a bid accepted again: `watchers` every raw
	 * watcher hears again, `archive` the archive takes an event again, `instance` the restarted
	 * api instance answers a bid 201, `affected` a bid on the auctions of the killed Redis
	 * primary is answered 201.
	 */
	recovery: 'bids' | 'watchers' | 'archive' | 'instance' | 'affected'
	/** What exactly was hit, said once it was (e.g. which Redis node and why that one). */
	target?: string
	/** The auctions whose slots the killed Redis primary served when it was killed. */
	affected?: readonly string[]
	/** The api instance that was killed (its base URL), for the `instance` recovery. */
	instance?: string
}

/** Every fault the NATS stack knows, in the order a run injects them. */
export const NATS_FAULTS = ['api', 'live', 'archiver', 'closer', 'nats', 'postgres', 'redis'] as const
export const EMBEDDED_FAULTS = ['gavel', 'gavel-restart'] as const
/** The cluster stack's faults: one of each redundant component, the survivor carrying on. */
export const CLUSTER_FAULTS = ['redis-primary', 'nats-node', 'api-live', 'archiver+closer'] as const

/** Every fault a stack kind knows, in the order a run injects them. */
export const FAULTS_OF = { nats: NATS_FAULTS, embedded: EMBEDDED_FAULTS, cluster: CLUSTER_FAULTS } as const

export interface FaultOptions {
	/** How long a killed process or server stays down before it is started again. */
	downMs: number
	/** How long Postgres is away (the proxy cut). */
	postgresDownMs: number
	/** How nats-server is stopped: SIGKILL (a crash) or SIGTERM (a restart). */
	natsSignal: 'SIGKILL' | 'SIGTERM'
	/** The load's auctions still open, for choosing the Redis primary to kill (one serving some of them). */
	openAuctions?: () => readonly string[]
	/** How long a cluster may take to be healthy again after a node is killed or started. */
	clusterTimeoutMs?: number
}

export function faultsFor(stack: Stack, names: readonly string[], options: FaultOptions): Fault[] {
	const kill = (process: string, title: string, recovery: Fault['recovery']): Fault => {
		const p = stack.processes.get(process)!
		return { name: process, title, downMs: options.downMs, inject: () => p.kill(), restore: () => p.start(), recovery }
	}
	return names.map((name): Fault => {
		switch (name) {
			case 'api':
				return kill('api', 'SIGKILL the api process (ROLES=api,live), start it again', 'bids')
			case 'live':
				return kill('live', 'SIGKILL the live process (ROLES=live, the raw watchers), start it again', 'watchers')
			case 'archiver':
				return kill('archiver', 'SIGKILL the archiver (ROLES=archiver), start it again', 'archive')
			case 'closer':
				return kill('closer', 'SIGKILL the closer (ROLES=closer), start it again', 'bids')
			case 'gavel':
				return kill('gavel', 'SIGKILL the all-in-one gavel (memory store, SQLite archive), start it again', 'bids')
			case 'gavel-restart': {
				const p = stack.processes.get('gavel')!
				return { name, title: 'SIGTERM the all-in-one gavel (a graceful stop), start it again', downMs: options.downMs, inject: () => p.kill('SIGTERM'), restore: () => p.start(), recovery: 'bids' }
			}
			case 'nats':
				return {
					name,
					title: `${options.natsSignal} nats-server, start it again (same port, same store dir)`,
					downMs: options.downMs,
					inject: () => stack.nats!.kill(options.natsSignal),
					restore: () => stack.nats!.start(),
					recovery: 'bids',
				}
			case 'postgres':
				return {
					name,
					title: `Postgres away for ${options.postgresDownMs / 1000} s (the proxy cut)`,
					downMs: options.postgresDownMs,
					inject: () => stack.postgres!.cut(),
					restore: () => stack.postgres!.restore(),
					recovery: 'archive',
				}
			case 'redis':
				return {
					name,
					title: 'SIGKILL redis-server, start an empty one (same port)',
					downMs: options.downMs,
					inject: () => stack.redis!.kill('SIGKILL'),
					restore: () => stack.redis!.start(),
					recovery: 'bids',
				}
			case 'redis-primary':
				return redisPrimaryFault(stack.redisCluster!, stack.runId, options)
			case 'nats-node':
				return natsNodeFault(stack.natsCluster!, stack.env.NATS_STREAM!, options)
			case 'api-live': {
				const p = stack.processes.get('api-1')!
				return {
					name,
					title: 'SIGKILL one of the two api,live instances (its bidders and watchers move to the other), start it again',
					target: `${p.name} (${p.url})`,
					instance: p.url,
					downMs: options.downMs,
					inject: () => p.kill(),
					restore: () => p.start(),
					recovery: 'instance',
				}
			}
			case 'archiver+closer': {
				const killed = [stack.processes.get('archiver-1')!, stack.processes.get('closer-1')!]
				return {
					name,
					title: 'SIGKILL one archiver and one closer (the other two carry on), start them again',
					target: killed.map((p) => p.name).join(' and '),
					downMs: options.downMs,
					inject: async () => void (await Promise.all(killed.map((p) => p.kill()))),
					restore: async () => void (await Promise.all(killed.map((p) => p.start()))),
					recovery: 'archive',
				}
			}
			default:
				throw new Error(`unknown fault ${name} for the ${stack.kind} stack`)
		}
	})
}

/**
 * SIGKILL the Redis primary serving the most of the load's open auctions (the catalog's node
 * when that is a tie: creations and closes then wait too). Its replica is promoted; only then
 * is the killed node started again: it has no persistence, and an empty node back before the
 * promotion would still be the primary of its slots and hand its replica an empty dataset.
 * It rejoins as a replica of the promoted one.
 */
function redisPrimaryFault(cluster: LocalRedisCluster, prefix: string, options: FaultOptions): Fault {
	const timeoutMs = options.clusterTimeoutMs ?? 60_000
	let victim: RedisClusterNode | null = null
	const fault: Fault = {
		name: 'redis-primary',
		title: 'SIGKILL a Redis primary serving some of the auctions (its replica is promoted), start it again (it rejoins as a replica)',
		downMs: options.downMs,
		// The replica is promoted after about two node timeouts (1 s each), then the node rejoins.
		recoveryAllowanceMs: 4_000,
		recovery: 'affected',
		async inject() {
			const auctions = options.openAuctions?.() ?? []
			const byNode = new Map<RedisClusterNode, string[]>()
			for (const id of auctions) {
				const node = await cluster.primaryOf(auctionKeys(prefix, id).state)
				byNode.set(node, [...(byNode.get(node) ?? []), id])
			}
			const catalog = await cluster.primaryOf(catalogKeys(prefix).index)
			const ranked = [...byNode].sort((a, b) => b[1].length - a[1].length || Number(b[0] === catalog) - Number(a[0] === catalog))
			const [node, ids] = ranked[0] ?? [catalog, []]
			victim = node
			fault.affected = ids
			fault.target = `${node.name}, primary of ${ids.length} of the ${auctions.length} open auctions${node === catalog ? ' and of the catalog (listing, closers\' schedule)' : ''}`
			await cluster.kill(node, 'SIGKILL')
		},
		async restore() {
			// Healthy without it: every slot served by a running primary, i.e. its replica promoted.
			await cluster.waitHealthy(timeoutMs)
			await cluster.restart(victim!)
			await cluster.waitHealthy(timeoutMs)
		},
	}
	return fault
}

/** SIGKILL the NATS node leading the events stream (its publishes and the archivers' pulls move), start it again on its store. */
function natsNodeFault(cluster: LocalNatsCluster, stream: string, options: FaultOptions): Fault {
	const timeoutMs = options.clusterTimeoutMs ?? 60_000
	let victim: NatsClusterNode | null = null
	const fault: Fault = {
		name: 'nats-node',
		title: 'SIGKILL one NATS node (the events stream\'s leader; R3 streams elect another), start it again (same store dir)',
		downMs: options.downMs,
		// A new stream leader in a few seconds; the archivers pull again within 5 s (their pulls expire).
		recoveryAllowanceMs: 6_000,
		recovery: 'archive',
		async inject() {
			const leader = await streamLeader(cluster, stream).catch(() => null)
			victim = cluster.nodes.find((n) => n.name === leader) ?? cluster.nodes[0]!
			fault.target = `${victim.name}${victim.name === leader ? `, the leader of stream ${stream}` : ''}`
			await cluster.kill(victim, 'SIGKILL')
		},
		async restore() {
			await cluster.restart(victim!)
			await cluster.waitHealthy(timeoutMs)
		},
	}
	return fault
}

/** The server name of the stream's leader, as JetStream reports it. */
async function streamLeader(cluster: LocalNatsCluster, stream: string): Promise<string | undefined> {
	const nc = await connect({ servers: cluster.url.split(','), timeout: 3_000, reconnect: false })
	try {
		return (await (await jetstreamManager(nc, { timeout: 3_000 })).streams.info(stream)).cluster?.leader
	} finally {
		await nc.close()
	}
}
