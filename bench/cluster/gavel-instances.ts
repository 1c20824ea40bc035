import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BUN_RUNTIME_FLAGS } from '../../scripts/runtime-flags.ts'
import { freePorts, pidRunning, spawnDetached } from '../lib/servers.ts'
import { progress, progressDone } from '../lib/proc.ts'
import type { GavelRecord } from './state.ts'

/**
 * gavel on the local clusters, as deployed on AWS (docs/design.md §8): two `api,live`
 * instances (the ones a load balancer would spread clients over), two archivers and two
 * closers, each its own detached process with a DATA_DIR and a log of its own.
 */

const ROOT = new URL('../..', import.meta.url).pathname
const CLI = join(ROOT, 'src/cli/main.ts')
/** In every instance's /proc cmdline: tells it from a later process that reuses its pid. */
export const GAVEL_COMMAND = 'src/cli/main.ts'

export const INSTANCES: ReadonlyArray<{ name: string; roles: string }> = [
	{ name: 'api-1', roles: 'api,live' },
	{ name: 'api-2', roles: 'api,live' },
	{ name: 'archiver-1', roles: 'archiver' },
	{ name: 'archiver-2', roles: 'archiver' },
	{ name: 'closer-1', roles: 'closer' },
	{ name: 'closer-2', roles: 'closer' },
]

/** What every instance is pointed at. */
export interface ClusterEndpoints {
	redisSeeds: string
	natsUrl: string
	databaseUrl: string
	secret: string
}

/**
 * One instance's whole environment: nothing inherited but PATH and HOME, so a REDIS_URL or
 * NATS_URL in the caller's shell cannot point an instance elsewhere. `extra` (--env) wins.
 */
export function gavelEnv(instance: { roles: string; port: number; dataDir: string }, to: ClusterEndpoints, extra: Record<string, string> = {}): Record<string, string> {
	return {
		PATH: Bun.env.PATH ?? '',
		HOME: Bun.env.HOME ?? '/tmp',
		NODE_ENV: 'production',
		LOG_LEVEL: 'info',
		ROLES: instance.roles,
		HOST: '127.0.0.1',
		PORT: String(instance.port),
		DATA_DIR: instance.dataDir,
		REDIS_CLUSTER_NODES: to.redisSeeds,
		NATS_URL: to.natsUrl,
		NATS_STREAM_REPLICAS: '3',
		DATABASE_URL: to.databaseUrl,
		AUTH_JWT_SECRET: to.secret,
		// Every client of a local cluster comes from 127.0.0.1 (the bench's 100 connections too):
		// per-address limits would throttle the machine itself.
		RATE_LIMIT_BIDS_PER_SEC: '0',
		RATE_LIMIT_IP_PER_SEC: '0',
		LIVE_MAX_SOCKETS_PER_IP: '0',
		...extra,
	}
}

/** Spawns every instance detached; `record` is called with each as soon as it has a pid. */
export function spawnInstances(dir: string, to: ClusterEndpoints, extra: Record<string, string>, record: (instance: GavelRecord) => void): GavelRecord[] {
	const ports = freePorts(INSTANCES.length)
	return INSTANCES.map(({ name, roles }, i) => {
		const port = ports[i]!
		const dataDir = join(dir, 'gavel', name)
		mkdirSync(dataDir, { recursive: true })
		const log = join(dataDir, 'gavel.log')
		const { pid } = spawnDetached(['bun', ...BUN_RUNTIME_FLAGS, CLI, 'serve'], { log, cwd: ROOT, env: gavelEnv({ roles, port, dataDir }, to, extra) })
		const instance: GavelRecord = { kind: 'gavel', name, roles, pid, port, url: `http://127.0.0.1:${port}`, dataDir, command: GAVEL_COMMAND, log }
		record(instance)
		return instance
	})
}

/** What /readyz says: the HTTP status and each dependency's check, or why it did not answer. */
export interface Readiness {
	status: number | null
	checks: Record<string, string>
	error?: string
}

export async function readiness(url: string): Promise<Readiness> {
	try {
		const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) })
		const body = (await res.json().catch(() => ({}))) as { checks?: Record<string, string> }
		return { status: res.status, checks: body.checks ?? {} }
	} catch (err) {
		return { status: null, checks: {}, error: (err as Error).message }
	}
}

/** The embedded adapters' names in /readyz: an instance using one ignored the cluster's settings. */
const EMBEDDED = ['memory', 'local-bus', 'sqlite']

export const embeddedAdapters = (r: Readiness) => EMBEDDED.filter((name) => name in r.checks)

/** One line on an instance's readiness: `ready`, `starting`, or `readyz 503 (nats unavailable)`. */
export function describeReadiness(r: Readiness): string {
	if (r.status === null) return 'starting'
	if (r.status === 200) return 'ready'
	const failing = Object.entries(r.checks).filter(([, s]) => s !== 'ok')
	return `readyz ${r.status}${failing.length ? ` (${failing.map(([name, s]) => `${name} ${s}`).join(', ')})` : ''}`
}

const logTail = (file: string) => {
	try {
		return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-8).join('\n    ')
	} catch {
		return '(no log)'
	}
}

/**
 * Waits until every instance's /readyz answers 200 on the cluster's adapters, printing progress.
 * Fails at once when an instance exits or is ready on an embedded adapter (a gavel that does not
 * read REDIS_CLUSTER_NODES or a NATS_URL list), and after `timeoutMs`. `interrupted` stops it.
 */
export async function waitReady(instances: GavelRecord[], { timeoutMs = 60_000, interrupted = () => false }: { timeoutMs?: number; interrupted?: () => boolean } = {}): Promise<void> {
	const started = Date.now()
	const ready = new Set<string>()
	let lastShown = 0
	try {
		for (;;) {
			if (interrupted()) throw new Error('interrupted')
			const pending = instances.filter((i) => !ready.has(i.name))
			const answers = await Promise.all(pending.map((i) => readiness(i.url)))
			const states: string[] = []
			for (const [k, instance] of pending.entries()) {
				const r = answers[k]!
				if (!pidRunning(instance.pid, instance.command)) throw new Error(`gavel ${instance.name} exited; the end of ${instance.log}:\n    ${logTail(instance.log)}`)
				const embedded = embeddedAdapters(r)
				if (r.status !== null && embedded.length > 0)
					throw new Error(
						`gavel ${instance.name} runs on embedded adapters (${embedded.join(', ')}) instead of the clusters: this gavel does not read ` +
							'REDIS_CLUSTER_NODES / a NATS_URL list yet (issue 15). `bun run cluster up --no-gavel` starts the servers alone.',
					)
				if (r.status === 200) ready.add(instance.name)
				else states.push(`${instance.name} ${describeReadiness(r)}`)
			}
			if (ready.size === instances.length) return
			const elapsed = Date.now() - started
			if (elapsed > timeoutMs) throw new Error(`gavel not ready after ${timeoutMs / 1000} s: ${states.join(', ')} (logs: ${instances.map((i) => i.log).join(', ')})`)
			if (elapsed - lastShown >= 1_000) {
				lastShown = elapsed
				progress(`gavel: ${ready.size} of ${instances.length} ready; ${states.join(', ')} (${Math.round(elapsed / 1000)} s)`)
			}
			await Bun.sleep(250)
		}
	} finally {
		if (lastShown > 0) progressDone()
	}
}
