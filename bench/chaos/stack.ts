import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnServe, type ServeProcess } from '../../tests/helpers/process.ts'
import { INSTANCES } from '../cluster/gavel-instances.ts'
import { startNatsCluster, type LocalNatsCluster } from '../cluster/nats-cluster.ts'
import { startRedisCluster, type LocalRedisCluster } from '../cluster/redis-cluster.ts'
import { freePort, type Children, type OwnServer } from '../lib/servers.ts'
import { startNats, startPostgres, startRedis, type ChaosPostgres } from './services.ts'

/**
 * gavel as deployed, for a chaos run. The NATS stack is four processes on the run's own Redis
 * and NATS and the machine's Postgres (through the run's proxy): `api` (ROLES=api,live, where
 * bids go), `live` (ROLES=live, where the raw watchers are), `archiver` and `closer`. The
 * cluster stack is the same shape made redundant (docs/design.md §6, "Redis Cluster and
 * replication"): a Redis Cluster (3 primaries + 3 replicas, node timeout 1 s), a 3-node NATS
 * cluster with the streams on 3 replicas, and two of each process: `api-1` and `api-2`
 * (ROLES=api,live, both taking bids and watchers, as behind a load balancer), `archiver-1`/`-2`
 * and `closer-1`/`-2`. The embedded stack is one all-in-one process (memory store, in-process
 * bus, SQLite archive in its DATA_DIR). Each process keeps its port and DATA_DIR across a
 * SIGKILL and a start, as a container behind a load balancer would, so clients reconnect to
 * the same address.
 */

export type StackKind = 'nats' | 'embedded' | 'cluster'
export const STACK_KINDS: readonly StackKind[] = ['nats', 'embedded', 'cluster']
export const CHAOS_SECRET = 'chaos-secret-chaos-secret-chaos-secret-0123'

export interface GavelProcess {
	readonly name: string
	readonly roles: string
	readonly url: string
	readonly port: number
	readonly dataDir: string
	/** The running process, null between a kill and the next start. */
	readonly serve: ServeProcess | null
	readonly pid: number | undefined
	/** Every JSON log line of every start of this process so far. */
	logs(): Array<Record<string, unknown>>
	/** SIGKILL (a crash) by default; SIGTERM is a graceful stop. Waits for the exit. */
	kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
	start(): Promise<void>
}

export interface Stack {
	kind: StackKind
	runId: string
	secret: string
	/** Where the run reads the store at the end (the first of apiUrls). */
	apiUrl: string
	/** Where bids and creations go: the load splits its bidders between them (cluster: both api,live instances). */
	apiUrls: string[]
	/** Where raw watchers connect, in turn (NATS stack: the live-only process; embedded: the one process; cluster: both). */
	rawLiveUrls: string[]
	/** Where watch() clients connect, in turn: both live processes (NATS and cluster stacks). */
	clientLiveUrls: string[]
	/**
	 * Live instances behind one address, as a load balancer would put them: a client whose
	 * instance went away reconnects to another of them (cluster). Empty: each client keeps its own.
	 */
	liveGroup: string[]
	processes: Map<string, GavelProcess>
	redis: OwnServer | null
	nats: OwnServer | null
	redisCluster: LocalRedisCluster | null
	natsCluster: LocalNatsCluster | null
	/** NATS_URL as gavel gets it (a comma list on the cluster); null embedded. */
	natsUrl: string | null
	postgres: ChaosPostgres | null
	/** The environment every gavel process shares. */
	env: Record<string, string>
	/** Embedded: the SQLite archive the checks read. */
	sqlitePath: string | null
	stop(): Promise<void>
}

export interface StackOptions {
	kind: StackKind
	/** A temp dir of the run's own; everything the stack writes goes under it. */
	dir: string
	runId: string
	/** Extra gavel settings (the short version shortens the archiver's ack wait and crash repair's grace). */
	env?: Record<string, string>
	children: Children
	/** How long a process may take to be ready (a loaded 2-core machine starts slower). */
	readyTimeoutMs?: number
}

export async function startStack(options: StackOptions): Promise<Stack> {
	const { kind, dir, runId, children } = options
	const started: Array<() => Promise<void>> = []
	const stopAll = async () => {
		for (const stop of started.reverse()) await stop().catch(() => {})
		started.length = 0
	}
	try {
		let redis: OwnServer | null = null
		let nats: OwnServer | null = null
		let redisCluster: LocalRedisCluster | null = null
		let natsCluster: LocalNatsCluster | null = null
		let pg: ChaosPostgres | null = null
		const common: Record<string, string> = {
			NODE_ENV: 'production',
			LOG_LEVEL: 'info', // the ready line, warnings and errors; no per-request lines
			AUTH_JWT_SECRET: CHAOS_SECRET,
			RATE_LIMIT_BIDS_PER_SEC: '0',
			RATE_LIMIT_IP_PER_SEC: '0', // every bidder and watcher comes from 127.0.0.1
			LIVE_MAX_SOCKETS_PER_IP: '0',
		}
		if (kind === 'nats') {
			redis = await startRedis(join(dir, 'redis'), children)
			started.push(() => redis!.kill('SIGKILL'))
			nats = await startNats(join(dir, 'nats'), children)
			started.push(() => nats!.kill('SIGKILL'))
		}
		if (kind === 'cluster') {
			redisCluster = await startRedisCluster({ dir: join(dir, 'redis'), children, primaries: 3, replicasPerPrimary: 1, nodeTimeoutMs: 1_000 })
			started.push(() => redisCluster!.stop())
			natsCluster = await startNatsCluster({ dir: join(dir, 'nats'), children, nodes: 3 })
			started.push(() => natsCluster!.stop())
		}
		const natsUrl = nats?.url ?? natsCluster?.url ?? null
		if (kind !== 'embedded') {
			pg = await startPostgres(runId)
			const forget = children.defer(() => pg!.drop())
			started.push(async () => {
				forget()
				await pg!.drop()
			})
			Object.assign(common, {
				...(redis ? { REDIS_URL: redis.url } : { REDIS_CLUSTER_NODES: redisCluster!.seeds }),
				...(natsCluster ? { NATS_STREAM_REPLICAS: '3' } : {}),
				REDIS_PREFIX: runId,
				NATS_URL: natsUrl!,
				NATS_STREAM: runId.toUpperCase(),
				NATS_SUBJECT_PREFIX: runId,
				NATS_DLQ_STREAM: `${runId.toUpperCase()}_DLQ`,
				DATABASE_URL: pg.gavelUrl,
			})
		}
		const env = { ...common, ...options.env }
		const processes = new Map<string, GavelProcess>()
		const add = (name: string, roles: string) => {
			const p = gavelProcess(name, roles, join(dir, name), env, options.readyTimeoutMs ?? 60_000, children)
			processes.set(name, p)
			started.push(() => p.kill())
			return p
		}
		if (kind === 'nats') {
			// The api process first: it creates the stream the others use.
			for (const [name, roles] of [
				['api', 'api,live'],
				['live', 'live'],
				['archiver', 'archiver'],
				['closer', 'closer'],
			] as const)
				await add(name, roles).start()
		} else if (kind === 'cluster') {
			// The instances `bun run cluster up` runs (as deployed on AWS). The first (api-1) first: it
			// creates the streams with their replicas; the others start together.
			const [first, ...rest] = INSTANCES.map(({ name, roles }) => add(name, roles))
			await first!.start()
			await Promise.all(rest.map((p) => p.start()))
		} else await add('gavel', 'api,live,archiver,closer').start()
		const urlOf = (name: string) => processes.get(name)!.url
		const urls: { api: string[]; raw: string[]; client: string[]; group: string[] } =
			kind === 'nats'
				? { api: [urlOf('api')], raw: [urlOf('live')], client: [urlOf('live'), urlOf('api')], group: [] }
				: kind === 'cluster'
					? { api: [urlOf('api-1'), urlOf('api-2')], raw: [urlOf('api-1'), urlOf('api-2')], client: [urlOf('api-2'), urlOf('api-1')], group: [urlOf('api-1'), urlOf('api-2')] }
					: { api: [urlOf('gavel')], raw: [urlOf('gavel')], client: [urlOf('gavel')], group: [] }
		return {
			kind,
			runId,
			secret: CHAOS_SECRET,
			apiUrl: urls.api[0]!,
			apiUrls: urls.api,
			rawLiveUrls: urls.raw,
			clientLiveUrls: urls.client,
			liveGroup: urls.group,
			processes,
			redis,
			nats,
			redisCluster,
			natsCluster,
			natsUrl,
			postgres: pg,
			env,
			sqlitePath: kind === 'embedded' ? join(dir, 'gavel', 'archive.sqlite') : null,
			stop: stopAll,
		}
	} catch (err) {
		await stopAll()
		throw err
	}
}

function gavelProcess(name: string, roles: string, dataDir: string, env: Record<string, string>, readyTimeoutMs: number, children: Children): GavelProcess {
	const port = freePort()
	let serve: ServeProcess | null = null
	const earlierLogs: Array<Record<string, unknown>> = []
	return {
		name,
		roles,
		port,
		url: `http://127.0.0.1:${port}`,
		dataDir,
		get serve() {
			return serve
		},
		get pid() {
			return serve?.proc.pid
		},
		logs: () => [...earlierLogs, ...(serve?.logs ?? [])],
		async kill(signal = 'SIGKILL') {
			const s = serve
			serve = null
			if (!s) return
			if (s.proc.exitCode === null && s.proc.signalCode === null) process.kill(s.proc.pid, signal)
			await s.proc.exited
			earlierLogs.push(...s.logs)
		},
		async start() {
			if (serve) throw new Error(`gavel ${name} is already running`)
			await mkdir(dataDir, { recursive: true })
			serve = await spawnServe({ ...env, ROLES: roles, PORT: String(port), DATA_DIR: dataDir }, { timeoutMs: readyTimeoutMs })
			children.add(serve.proc)
		},
	}
}

/** Removes the run's temp dir (after every process in it has stopped). */
export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true })
