import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import postgres, { type Sql } from 'postgres'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { startTcpProxy } from '../../tests/helpers/tcp-proxy.ts'
import { freePort, ownServer, waitForPort, type Children, type OwnServer } from '../lib/servers.ts'

/**
 * The services a chaos run may break: its OWN redis-server and nats-server (JetStream, a store
 * dir of their own) on free loopback ports, so a fault never touches the machine's shared 6379
 * and 4222, and the machine's Postgres behind a TCP proxy in a schema of its own, so "Postgres
 * down" is the proxy cut, never the server stopped. Everything started here is stopped by pid.
 */

/** The Postgres the run uses (directly for its checks, through the proxy for gavel). */
export const CHAOS_DATABASE_URL = Bun.env.CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** redis-server with no persistence: a restart is a Redis that comes back empty. */
export async function startRedis(dir: string, children: Children): Promise<OwnServer> {
	const port = freePort()
	await mkdir(dir, { recursive: true })
	const server = ownServer({
		name: 'redis',
		port,
		url: `redis://127.0.0.1:${port}`,
		argv: () => ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log')],
		ready: () => waitForPort(port, 'redis-server'),
		children,
	})
	await server.start()
	return server
}

/** What a nats-server of our own may require, as the AWS stack's does: a user, and TLS (PEM files). */
export interface NatsSecurity {
	user: string
	pass: string
	tls?: { certFile: string; keyFile: string; caFile: string }
}

/** nats-server with JetStream on file storage in `dir`: a restart keeps the stream. With TLS its url is tls://. */
export async function startNats(dir: string, children: Children, security?: NatsSecurity): Promise<OwnServer> {
	const port = freePort()
	const tls = security?.tls
	const url = `${tls ? 'tls' : 'nats'}://127.0.0.1:${port}`
	await mkdir(dir, { recursive: true })
	const server = ownServer({
		name: 'nats',
		port,
		url,
		argv: () => [
			'nats-server', '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store'), '-l', join(dir, 'nats.log'),
			...(security ? ['--user', security.user, '--pass', security.pass] : []),
			// --tls: every client must speak TLS (no client certificates asked).
			...(tls ? ['--tls', '--tlscert', tls.certFile, '--tlskey', tls.keyFile] : []),
		],
		ready: async () => {
			await waitForPort(port, 'nats-server')
			// JetStream answers a moment after the port: wait for it too, so gavel's stream setup finds it.
			const deadline = Date.now() + 20_000
			for (;;) {
				try {
					const nc = await connect({
						servers: url,
						timeout: 2_000,
						...(security ? { user: security.user, pass: security.pass } : {}),
						...(tls ? { tls: { caFile: tls.caFile } } : {}),
					})
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
	})
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
