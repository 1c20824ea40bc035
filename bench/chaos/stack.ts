import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnServe, type ServeProcess } from '../../tests/helpers/process.ts'
import { freePort, type Children, type OwnServer } from '../lib/servers.ts'
import { startNats, startPostgres, startRedis, type ChaosPostgres } from './services.ts'

/**
 * gavel as deployed, for a chaos run. The NATS stack is four processes on the run's own Redis
 * and NATS and the machine's Postgres (through the run's proxy): `api` (ROLES=api,live, where
 * bids go), `live` (ROLES=live, where the raw watchers are), `archiver` and `closer`. The
 * embedded stack is one all-in-one process (memory store, in-process bus, SQLite archive in its
 * DATA_DIR). Each process keeps its port and DATA_DIR across a SIGKILL and a start, as a
 * container behind a load balancer would, so clients reconnect to the same address.
 */

export type StackKind = 'nats' | 'embedded'
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
	/** Where bids and creations go. */
	apiUrl: string
	/** Where raw watchers connect (the live-only process, embedded: the one process). */
	rawLiveUrl: string
	/** Where watch() clients connect: both live processes on the NATS stack. */
	clientLiveUrls: string[]
	processes: Map<string, GavelProcess>
	redis: OwnServer | null
	nats: OwnServer | null
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
			pg = await startPostgres(runId)
			const forget = children.defer(() => pg!.drop())
			started.push(async () => {
				forget()
				await pg!.drop()
			})
			Object.assign(common, {
				REDIS_URL: redis.url,
				REDIS_PREFIX: runId,
				NATS_URL: nats.url,
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
		} else await add('gavel', 'api,live,archiver,closer').start()
		const api = processes.get(kind === 'nats' ? 'api' : 'gavel')!
		const live = processes.get(kind === 'nats' ? 'live' : 'gavel')!
		return {
			kind,
			runId,
			secret: CHAOS_SECRET,
			apiUrl: api.url,
			rawLiveUrl: live.url,
			clientLiveUrls: kind === 'nats' ? [live.url, api.url] : [api.url],
			processes,
			redis,
			nats,
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
