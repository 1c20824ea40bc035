import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { Children, freePorts, ownServer, requireBinary, waitForPort } from '../lib/servers.ts'
import { createNodeSet } from './node-set.ts'

/**
 * A NATS cluster with JetStream on loopback (issue 15): N `nats-server -js` routed to each other,
 * each with a store dir and a monitoring port of its own. A node that restarts keeps its store
 * and catches up from the others. Processes are ours by pid; the machine's 4222 is never touched.
 */

export const NATS_CLUSTER_NAME = 'gavel-local'
const HOST = '127.0.0.1'

export interface NatsClusterNode {
	/** nats-1, nats-2, …: also its server name (-n), which JetStream clustering needs. */
	readonly name: string
	readonly host: string
	/** Clients. */
	readonly port: number
	/** Routes between the servers. */
	readonly clusterPort: number
	/** HTTP monitoring: /healthz, /routez, /jsz. */
	readonly monitorPort: number
	readonly dir: string
	readonly url: string
	/** The running process, undefined after kill(). */
	readonly pid: number | undefined
}

export interface NatsClusterOptions {
	/** Everything the cluster writes goes under it (a dir per node); stop() removes it. */
	dir: string
	/** Where the processes are registered for kill-on-abort (not used when detached). */
	children?: Children
	nodes?: number
	/** The servers outlive this process (`bun run cluster up`); each one's stdout goes to <node dir>/stdout.log. */
	detached?: boolean
	/** How long forming the cluster may take. */
	startTimeoutMs?: number
}

export interface LocalNatsCluster {
	readonly dir: string
	readonly nodes: readonly NatsClusterNode[]
	/** "nats://127.0.0.1:a,nats://127.0.0.1:b,…": NATS_URL. */
	readonly url: string
	/** Kills the node by pid and waits for it to exit. */
	kill(node: NatsClusterNode, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
	/** Starts a killed node again on its ports and store dir. */
	restart(node: NatsClusterNode): Promise<void>
	/** Resolves once every running node is healthy (/healthz), routed to every other running node, and JetStream has a meta leader that answers. */
	waitHealthy(ms?: number): Promise<void>
	/** Stops every node by pid and removes the dir. */
	stop(): Promise<void>
}

/** One node's monitoring answers (or why there are none). */
export interface NatsNodeProbe {
	monitorPort: number
	/** Why the monitoring port did not answer; undefined when it did. */
	error?: string
	/** /healthz: the HTTP status (200 once JetStream is current) and its body's status or error. */
	healthz?: number
	healthzSays?: string
	/** /routez: routes to other servers. */
	routes?: number
	/** /jsz: the JetStream meta group's leader, by server name ('' while there is none). */
	metaLeader?: string
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
	const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
	return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

/** Asks one node's monitoring port; never throws (an unreachable node is a probe with `error`). */
export async function probeNatsNode(monitorPort: number): Promise<NatsNodeProbe> {
	const base = `http://${HOST}:${monitorPort}`
	try {
		const [healthz, routez, jsz] = await Promise.all([getJson(`${base}/healthz`), getJson(`${base}/routez`), getJson(`${base}/jsz`)])
		const meta = jsz.body.meta_cluster as { leader?: string } | undefined
		return {
			monitorPort,
			healthz: healthz.status,
			healthzSays: String(healthz.body.error ?? healthz.body.status ?? ''),
			routes: Number(routez.body.num_routes ?? 0),
			metaLeader: meta?.leader ?? '',
		}
	} catch (err) {
		return { monitorPort, error: (err as Error).message || 'no answer' }
	}
}

/** What keeps the running nodes from being a healthy cluster, from their probes. Empty when healthy. */
export function natsClusterProblems(probes: NatsNodeProbe[], nameOf: (monitorPort: number) => string = String): string[] {
	const problems: string[] = []
	for (const probe of probes) {
		const name = nameOf(probe.monitorPort)
		if (probe.error !== undefined) {
			problems.push(`${name} does not answer on its monitoring port (${probe.error})`)
			continue
		}
		if (probe.healthz !== 200) problems.push(`${name}: /healthz ${probe.healthz} ${probe.healthzSays ?? ''}`.trim())
		// Routes are counted per connection: a moment after a restart there can be a duplicate, never fewer when healthy.
		if ((probe.routes ?? 0) < probes.length - 1) problems.push(`${name}: routes to ${probe.routes} of the ${probes.length - 1} other running servers`)
		if (!probe.metaLeader) problems.push(`${name}: JetStream has no meta leader`)
	}
	return problems
}

export async function startNatsCluster(options: NatsClusterOptions): Promise<LocalNatsCluster> {
	const { dir, nodes: count = 3, detached = false, startTimeoutMs = 60_000 } = options
	const children = options.children ?? new Children()
	// JetStream's meta group must keep a majority with one server down.
	if (count < 3) throw new Error(`a NATS cluster with JetStream needs at least 3 servers (got ${count})`)
	requireBinary('nats-server', 'the local NATS cluster runs its own servers')
	const ports = freePorts(count * 3)
	const clusterUrl = (i: number) => `nats://${HOST}:${ports[count + i]}`
	const set = createNodeSet<NatsClusterNode>({ dir, children, detached })
	for (let i = 0; i < count; i++) {
		const name = `nats-${i + 1}`
		const port = ports[i]!
		const monitorPort = ports[2 * count + i]!
		const nodeDir = join(dir, name)
		const routes = Array.from({ length: count }, (_, j) => j)
			.filter((j) => j !== i)
			.map(clusterUrl)
		const server = ownServer({
			name,
			port,
			url: `nats://${HOST}:${port}`,
			argv: () => [
				'nats-server',
				...['-js', '-n', name, '-sd', join(nodeDir, 'store')],
				...['--cluster_name', NATS_CLUSTER_NAME, '--cluster', clusterUrl(i), '--routes', routes.join(',')],
				...['-a', HOST, '-p', String(port), '-m', String(monitorPort), '-l', join(nodeDir, 'nats.log')],
			],
			ready: () => waitForPort(port, name),
			children,
			detachedLog: detached ? join(nodeDir, 'stdout.log') : undefined,
		})
		const node: NatsClusterNode = {
			name,
			host: HOST,
			port,
			clusterPort: ports[count + i]!,
			monitorPort,
			dir: nodeDir,
			url: server.url,
			get pid() {
				return server.pid
			},
		}
		set.add(node, server)
	}
	const { nodes } = set
	const nameOf = (monitorPort: number) => nodes.find((n) => n.monitorPort === monitorPort)?.name ?? `monitor ${monitorPort}`
	const problems = async () => {
		const live = set.running()
		if (live.length === 0) return ['no server is running']
		const found = natsClusterProblems(await Promise.all(live.map((n) => probeNatsNode(n.monitorPort))), nameOf)
		if (found.length > 0) return found
		const answer = await jetStreamAnswers(live.map((n) => n.url))
		return answer === null ? [] : [answer]
	}

	const cluster: LocalNatsCluster = {
		dir,
		nodes,
		url: nodes.map((n) => n.url).join(','),
		kill: set.kill,
		restart: set.restart,
		waitHealthy: (ms = 30_000) => set.waitUntilNone(problems, 'the NATS cluster', ms),
		stop: set.stop,
	}

	try {
		await set.startAll()
		await cluster.waitHealthy(startTimeoutMs)
		return cluster
	} catch (err) {
		await cluster.stop()
		throw err
	}
}

/** null when a client of the cluster gets JetStream's account info (what gavel's stream setup needs first), else why not. */
async function jetStreamAnswers(servers: string[]): Promise<string | null> {
	try {
		const nc = await connect({ servers, timeout: 2_000, reconnect: false })
		try {
			await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo()
			return null
		} finally {
			await nc.close()
		}
	} catch (err) {
		return `JetStream does not answer a client: ${(err as Error).message}`
	}
}
