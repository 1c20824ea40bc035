import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startNatsCluster } from './nats-cluster.ts'
import { startRedisCluster } from './redis-cluster.ts'
import { createDatabase } from './database.ts'
import { spawnInstances, waitReady } from './gavel-instances.ts'
import { takeDown } from './down.ts'
import { POSTGRES_ADMIN_URL, type ClusterArgs } from './args.ts'
import { emptyState, isRunning, processesOf, readState, writeState, type ClusterState } from './state.ts'

/**
 * `bun run cluster up`: every part detached, recorded in state.json as soon as it has a pid,
 * so `down` finds it even when `up` itself did not finish. A failure (or Ctrl-C) half-way
 * takes down what was started.
 */

export const SECRET_FILE = 'auth-jwt-secret'
/** Longer than the library's default: a bench saturating both cores must not look like a dead primary. */
const NODE_TIMEOUT_MS = 2_000
const GAVEL_READY_TIMEOUT_MS = 60_000

/** 48 characters of base64url from 36 random bytes: AUTH_JWT_SECRET needs at least 32. */
export const newSecret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(36))).toString('base64url')

/** How the printed commands name the state dir: nothing when it is the default. */
const dirOption = (args: ClusterArgs) => (args.dirGiven ? ` --dir ${shellQuote(args.dir)}` : '')

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`)

/** What `up` prints when everything is up: where things are and how to aim the CLI and the bench at them. */
export function summary(state: ClusterState, args: ClusterArgs): string[] {
	const secret = `$(cat ${shellQuote(state.secretFile)})`
	const api = state.gavel.filter((g) => g.roles.split(',').includes('api'))
	const lines = [`gavel local cluster up in ${state.dir} (state.json and every log are there)`, '']
	if (api.length) lines.push(`  gavel api      ${api.map((g) => g.url).join('  ')}`)
	for (const g of state.gavel.filter((g) => !api.includes(g))) lines.push(`  gavel ${g.roles.padEnd(9)}${g.name} on port ${g.port} (pid ${g.pid})`)
	lines.push(
		`  REDIS_CLUSTER_NODES=${state.redis?.seeds ?? ''}`,
		`  NATS_URL=${state.nats?.url ?? ''}`,
		'  NATS_STREAM_REPLICAS=3',
		`  DATABASE_URL=${state.database?.url ?? ''}`,
		`  AUTH_JWT_SECRET is in ${state.secretFile}`,
		'',
	)
	if (api.length) {
		lines.push(
			'the CLI:',
			`  export GAVEL_URL=${api[0]!.url}`,
			`  export GAVEL_TOKEN=$(AUTH_JWT_SECRET=${secret} bun run gavel token --sub sam --role seller)`,
			'the bench (--cluster also counts the CPU of every process here):',
			`  bun run bench bids --cluster ${state.dir}`,
			`  bun run bench bids --url ${api.map((g) => g.url).join(',')} --secret ${secret}`,
		)
	} else {
		lines.push('gavel: not started (--no-gavel): run it with the settings above, and AUTH_JWT_SECRET from the file if you like')
	}
	lines.push('', `status: bun run cluster status${dirOption(args)}`, `stop:   bun run cluster down${dirOption(args)}`)
	return lines
}

export async function up(args: ClusterArgs, print: (line: string) => void): Promise<number> {
	const { dir } = args
	const existing = readState(dir)
	if (existing) {
		const all = processesOf(existing)
		const running = all.filter(isRunning)
		if (running.length > 0) {
			print(`a cluster from ${dir} is running (${running.length} of its ${all.length} processes, started ${existing.startedAt}): stop it first with bun run cluster down${dirOption(args)}`)
			return 1
		}
		print(`${dir} holds a cluster that no longer runs (started ${existing.startedAt}): taking down what is left of it first`)
		if (!(await takeDown(existing, dir, print))) return 1
	} else if (existsSync(dir) && readdirSync(dir).length > 0) {
		// `down` removes the state dir: never adopt one that holds something else.
		print(`${dir} exists and is not a cluster's state dir (no state.json): pick another --dir`)
		return 1
	}
	mkdirSync(dir, { recursive: true })
	const secretFile = join(dir, SECRET_FILE)
	const secret = newSecret()
	writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 })
	const state = emptyState(dir, secretFile)
	writeState(state)

	// Ctrl-C ends the step under way, then everything started is taken down (the servers run in
	// sessions of their own, so the terminal's SIGINT does not reach them).
	let interrupted = false
	const onSignal = () => {
		if (!interrupted) print('interrupted: stopping what was started once the current step ends')
		interrupted = true
	}
	process.on('SIGINT', onSignal)
	process.on('SIGTERM', onSignal)
	const step = (what: string) => {
		if (interrupted) throw new Error('interrupted')
		print(what)
	}
	try {
		step('starting the Redis Cluster (3 primaries, 3 replicas) …')
		const redis = await startRedisCluster({ dir: join(dir, 'redis'), detached: true, nodeTimeoutMs: NODE_TIMEOUT_MS })
		state.redis = {
			seeds: redis.seeds,
			nodes: redis.nodes.map((n) => ({ kind: 'redis', name: n.name, pid: n.pid!, port: n.port, busPort: n.busPort, command: 'redis-server', log: join(n.dir, 'redis.log') })),
		}
		writeState(state)

		step('starting the NATS cluster (3 servers, JetStream) …')
		const nats = await startNatsCluster({ dir: join(dir, 'nats'), detached: true })
		state.nats = {
			url: nats.url,
			nodes: nats.nodes.map((n) => ({ kind: 'nats', name: n.name, pid: n.pid!, port: n.port, clusterPort: n.clusterPort, monitorPort: n.monitorPort, command: 'nats-server', log: join(n.dir, 'nats.log') })),
		}
		writeState(state)

		if (args.databaseUrl) {
			state.database = { url: args.databaseUrl, created: null }
		} else {
			step(`creating database ${args.databaseName} …`)
			// Recorded once created, never before: one that existed already is not ours to drop.
			const url = await createDatabase(POSTGRES_ADMIN_URL, args.databaseName)
			state.database = { url, created: { name: args.databaseName, adminUrl: POSTGRES_ADMIN_URL } }
		}
		writeState(state)

		if (args.gavel) {
			step('starting gavel: api-1, api-2 (api,live), archiver-1, archiver-2, closer-1, closer-2 …')
			const endpoints = { redisSeeds: redis.seeds, natsUrl: nats.url, databaseUrl: state.database.url, secret }
			spawnInstances(dir, endpoints, args.env, (instance) => {
				state.gavel.push(instance)
				writeState(state)
			})
			await waitReady(state.gavel, { timeoutMs: GAVEL_READY_TIMEOUT_MS, interrupted: () => interrupted })
		}
		state.phase = 'up'
		writeState(state)
		print('')
		for (const line of summary(state, args)) print(line)
		return 0
	} catch (err) {
		print(`up failed: ${(err as Error).message}`)
		print('stopping what it started:')
		await takeDown(state, dir, print)
		return 1
	} finally {
		process.off('SIGINT', onSignal)
		process.off('SIGTERM', onSignal)
	}
}
