import type { Subprocess } from 'bun'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import postgres, { type Sql } from 'postgres'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { startTcpProxy } from '../../tests/helpers/tcp-proxy.ts'

/**
 * The services a chaos run may break: its OWN redis-server and nats-server (JetStream, a store
 * dir of their own) on free loopback ports, so a fault never touches the machine's shared 6379
 * and 4222, and the machine's Postgres behind a TCP proxy in a schema of its own, so "Postgres
 * down" is the proxy cut, never the server stopped. Everything started here is stopped by pid.
 */

/** The Postgres the run uses (directly for its checks, through the proxy for gavel). */
export const CHAOS_DATABASE_URL = Bun.env.CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * Children of this run, by pid, and what else must be undone (a schema, a temp dir), so a
 * failure or Ctrl-C stops exactly what the run started and nothing else.
 */
export class Children {
	readonly #procs = new Set<Subprocess>()
	readonly #cleanups = new Set<() => Promise<unknown>>()
	add<P extends Subprocess>(proc: P): P {
		this.#procs.add(proc)
		void proc.exited.then(() => this.#procs.delete(proc))
		return proc
	}
	/** Something to undo if the run is interrupted; the returned function forgets it (done normally). */
	defer(cleanup: () => Promise<unknown>): () => void {
		this.#cleanups.add(cleanup)
		return () => this.#cleanups.delete(cleanup)
	}
	/** SIGKILL to every child still running, by its pid. */
	killAll(): void {
		for (const proc of this.#procs) if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGKILL')
	}
	/** Interrupted: kill every child, wait for them, then undo the rest. */
	async abort(): Promise<void> {
		const running = [...this.#procs]
		this.killAll()
		await Promise.all(running.map((p) => p.exited))
		for (const cleanup of this.#cleanups) await cleanup().catch(() => {})
		this.#cleanups.clear()
	}
}

/** A port nothing listens on right now (the kernel picks it; we let go of it at once). */
export function freePort(): number {
	const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
	const port = probe.port
	probe.stop(true)
	return port
}

/** Resolves once something accepts TCP connections on the port; fails after `ms`. */
export async function waitForPort(port: number, what: string, ms = 20_000): Promise<void> {
	const deadline = Date.now() + ms
	for (;;) {
		const open = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
			(s) => (s.end(), true),
			() => false,
		)
		if (open) return
		if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${ms} ms`)
		await Bun.sleep(50)
	}
}

/** A server process the run owns: killed (SIGKILL or SIGTERM) and started again on the same port and dir. */
export interface OwnServer {
	readonly name: string
	readonly port: number
	readonly url: string
	readonly pid: number | undefined
	/** Kills the process by pid and waits for it to exit. */
	kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>
	/** Starts it again (same port, same dir) and waits until it serves. */
	start(): Promise<void>
}

function ownServer(name: string, port: number, url: string, argv: () => string[], ready: () => Promise<void>, children: Children): OwnServer {
	let proc: Subprocess | null = null
	return {
		name,
		port,
		url,
		get pid() {
			return proc?.pid
		},
		async kill(signal) {
			const p = proc
			proc = null
			if (!p) return
			if (p.exitCode === null && p.signalCode === null) process.kill(p.pid, signal)
			await p.exited
		},
		async start() {
			if (proc) throw new Error(`${name} is already running`)
			const binary = argv()[0]!
			if (!Bun.which(binary)) throw new Error(`${binary} is not on PATH: the chaos run starts its own ${name} (apt-get install ${binary === 'nats-server' ? 'nats-server' : 'redis-server'})`)
			const p = children.add(Bun.spawn(argv(), { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' }))
			proc = p
			const died = p.exited.then(async (code) => {
				throw new Error(`${name} exited (${code}) before it served: ${(await new Response(p.stderr).text()).slice(0, 500)}`)
			})
			died.catch(() => {}) // a later exit (a fault killing it) is no failure of this start
			await Promise.race([ready(), died])
		},
	}
}

/** redis-server with no persistence: a restart is a Redis that comes back empty. */
export async function startRedis(dir: string, children: Children): Promise<OwnServer> {
	const port = freePort()
	await mkdir(dir, { recursive: true })
	const server = ownServer(
		'redis',
		port,
		`redis://127.0.0.1:${port}`,
		() => ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log')],
		() => waitForPort(port, 'redis-server'),
		children,
	)
	await server.start()
	return server
}

/** nats-server with JetStream on file storage in `dir`: a restart keeps the stream. */
export async function startNats(dir: string, children: Children): Promise<OwnServer> {
	const port = freePort()
	const url = `nats://127.0.0.1:${port}`
	await mkdir(dir, { recursive: true })
	const server = ownServer(
		'nats',
		port,
		url,
		() => ['nats-server', '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store'), '-l', join(dir, 'nats.log')],
		async () => {
			await waitForPort(port, 'nats-server')
			// JetStream answers a moment after the port: wait for it too, so gavel's stream setup finds it.
			const deadline = Date.now() + 20_000
			for (;;) {
				try {
					const nc = await connect({ servers: url, timeout: 2_000 })
					try {
						await (await jetstreamManager(nc)).getAccountInfo()
						return
					} finally {
						await nc.close()
					}
				} catch (err) {
					if (Date.now() > deadline) throw new Error(`JetStream did not answer on ${url}`, { cause: err })
					await Bun.sleep(100)
				}
			}
		},
		children,
	)
	await server.start()
	return server
}

/** The machine's Postgres behind a proxy the run can cut, in a schema of its own. */
export interface ChaosPostgres {
	schema: string
	/** What gavel gets: through the proxy. */
	gavelUrl: string
	/** What the checks use: direct. */
	sql: Sql
	cut(): Promise<void>
	restore(): Promise<void>
	drop(): Promise<void>
}

export async function startPostgres(runId: string): Promise<ChaosPostgres> {
	const direct = new URL(CHAOS_DATABASE_URL)
	const admin = postgres(direct.toString(), { max: 1, connect_timeout: 3, onnotice: () => {} })
	try {
		await admin`select 1`
	} catch (err) {
		await admin.end({ timeout: 1 }).catch(() => {})
		throw new Error(`PostgreSQL is not reachable at ${CHAOS_DATABASE_URL} (set CHAOS_DATABASE_URL)`, { cause: err })
	}
	const schema = runId.toLowerCase()
	await admin.unsafe(`create schema ${schema}`)
	await admin.end({ timeout: 5 })
	const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
	const viaProxy = new URL(direct)
	viaProxy.hostname = '127.0.0.1'
	viaProxy.port = String(proxy.port)
	viaProxy.searchParams.set('search_path', schema)
	const checked = new URL(direct)
	checked.searchParams.set('search_path', schema)
	const sql = postgres(checked.toString(), { max: 2, connect_timeout: 5, onnotice: () => {} })
	let cut = false
	return {
		schema,
		gavelUrl: viaProxy.toString(),
		sql,
		async cut() {
			cut = true
			await proxy.close()
		},
		async restore() {
			if (!cut) return
			cut = false
			await proxy.open()
		},
		async drop() {
			if (!cut) await proxy.close()
			await sql.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {})
			await sql.end({ timeout: 5 })
		},
	}
}
