import { rm } from 'node:fs/promises'
import { signToken } from '../../src/auth/tokens.ts'

const ROOT = new URL('../..', import.meta.url).pathname
export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret-0123'

export interface Target {
	/** Where auctions are created; the first of `urls`. */
	url: string
	/** Every instance the bids load is split over (`--url a,b`); absent: `url` alone. */
	urls?: string[]
	secret: string
	/** Present when the bench started gavel itself. */
	pid?: number
	/** The archiver process, when it runs apart. */
	archiverPid?: number
	/**
	 * Every process of a deployment the bench did not start, by part (`--cluster DIR`: the local
	 * cluster's state.json), so CPU is counted for all of them.
	 */
	processes?: { gavel: number[]; archiver: number[]; redis: number[]; nats: number[] }
	/** Where the run's keys and archive live, when the bench started gavel itself. */
	redisPrefix?: string
	databaseUrl?: string
	adapters?: unknown
	stop(): Promise<void>
}

/** `--url a,b`: the instances of one gavel, each an http(s) URL (a trailing slash dropped). */
export function urlList(value: string): string[] {
	const urls = value.split(',').map((u) => u.trim().replace(/\/+$/, ''))
	const bad = urls.filter((u) => !/^https?:\/\/[^/?#\s]+(\/\S*)?$/.test(u))
	if (bad.length > 0 || urls.length === 0) throw new Error(`--url: one or more http(s) URLs of gavel, comma-separated (not ${bad.map((u) => JSON.stringify(u)).join(', ')})`)
	if (new Set(urls).size !== urls.length) throw new Error(`--url: the same URL twice (${value})`)
	return urls
}

/** A unique suffix so a bench run never touches another run's keys or streams. */
export const runId = () => `bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

/**
 * startGavel runs gavel as it is deployed, on the real services on loopback with a key prefix,
 * stream and Postgres schema of its own: one process with the api, live and closer roles, and
 * the archiver as a second process (ROLES=archiver) writing to Postgres. It waits for both to
 * be ready; `stop` ends both and removes what the run created.
 */
/** BENCH_ENV="KEY=value KEY2=value": settings for every gavel process a bench starts (to try one). */
function benchEnv(): Record<string, string> {
	const pairs = (Bun.env.BENCH_ENV ?? '').split(/\s+/).filter(Boolean)
	return Object.fromEntries(
		pairs.map((pair) => {
			const at = pair.indexOf('=')
			if (at < 1) throw new Error(`BENCH_ENV: "${pair}" is not KEY=value`)
			return [pair.slice(0, at), pair.slice(at + 1)]
		}),
	)
}

export async function startGavel(env: Record<string, string> = {}, bunFlags: string[] = [], root = ROOT, { archiver: withArchiver = true } = {}): Promise<Target> {
	const id = runId()
	const embedded = env.REDIS_URL === '' && env.NATS_URL === ''
	const schema = embedded ? null : await createSchema(id)
	const base: Record<string, string> = {
		PATH: Bun.env.PATH ?? '',
		HOME: Bun.env.HOME ?? '/tmp',
		PORT: '0',
		HOST: '127.0.0.1',
		NODE_ENV: 'production',
		LOG_LEVEL: 'info', // no per-request logs; info carries the ready line
		AUTH_JWT_SECRET: BENCH_SECRET,
		REDIS_URL: 'redis://127.0.0.1:6379',
		REDIS_PREFIX: id,
		NATS_URL: 'nats://127.0.0.1:4222',
		NATS_STREAM: id.toUpperCase(),
		NATS_SUBJECT_PREFIX: id,
		NATS_DLQ_STREAM: `${id.toUpperCase()}_DLQ`,
		DATABASE_URL: schema?.url ?? '',
		RATE_LIMIT_BIDS_PER_SEC: '0',
		RATE_LIMIT_IP_PER_SEC: '0',
		LIVE_MAX_SOCKETS_PER_IP: '0', // watchers of a bench all come from 127.0.0.1
		DATA_DIR: `/tmp/gavel-${id}`,
		ROLES: embedded ? 'api,live,archiver,closer' : 'api,live,closer',
		...benchEnv(),
		...env,
	}
	const spawn = (extra: Record<string, string>, flags: string[]) =>
		Bun.spawn(['bun', ...flags, `${root}src/cli/main.ts`, 'serve'], { cwd: root, env: { ...base, ...extra }, stdout: 'pipe', stderr: 'inherit' })
	const archiver = embedded || !withArchiver ? null : spawn({ ROLES: 'archiver' }, Bun.env.BENCH_ARCHIVER_FLAGS?.split(' ').filter(Boolean) ?? [])
	if (archiver) await readyUrl(archiver.stdout)
	const proc = spawn({}, [...bunFlags, ...(Bun.env.BENCH_GAVEL_FLAGS?.split(' ').filter(Boolean) ?? [])])
	const url = await readyUrl(proc.stdout)
	return {
		url,
		secret: BENCH_SECRET,
		pid: proc.pid,
		archiverPid: archiver?.pid,
		redisPrefix: embedded ? undefined : id,
		databaseUrl: archiver ? schema?.url : undefined,
		async stop() {
			for (const p of [proc, archiver]) p?.kill('SIGTERM')
			await Promise.all([proc.exited, archiver?.exited])
			await cleanup(id)
			await schema?.drop()
			await rm(base.DATA_DIR!, { recursive: true, force: true })
		},
	}
}

async function createSchema(id: string) {
	const { default: postgres } = await import('postgres')
	const url = new URL(Bun.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
	const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
	await sql.unsafe(`create schema ${id}`)
	url.searchParams.set('search_path', id)
	return {
		url: url.toString(),
		async drop() {
			await sql.unsafe(`drop schema if exists ${id} cascade`)
			await sql.end({ timeout: 5 })
		},
	}
}

async function readyUrl(stdout: ReadableStream<Uint8Array>): Promise<string> {
	let buffer = ''
	const reader = stdout.getReader()
	const deadline = setTimeout(() => reader.cancel(), 20_000)
	try {
		for (;;) {
			const { value, done } = await reader.read()
			if (done) throw new Error('gavel exited before it was ready')
			buffer += new TextDecoder().decode(value)
			const match = /"url":"([^"]+)"[^\n]*"msg":"gavel is ready"/.exec(buffer)
			if (match) {
				// Keep draining its output so the pipe never blocks the server.
				;(async () => {
					while (!(await reader.read()).done) {}
				})().catch(() => {})
				return match[1]!
			}
		}
	} finally {
		clearTimeout(deadline)
	}
}

async function cleanup(id: string) {
	const { default: Redis } = await import('ioredis')
	const redis = new Redis('redis://127.0.0.1:6379')
	let cursor = '0'
	do {
		const [next, keys] = await redis.scan(cursor, 'MATCH', `${id}:*`, 'COUNT', 5000)
		cursor = next
		if (keys.length) await redis.del(...keys)
	} while (cursor !== '0')
	await redis.quit()
	const { connect } = await import('@nats-io/transport-node')
	const { jetstreamManager } = await import('@nats-io/jetstream')
	const nc = await connect({ servers: 'nats://127.0.0.1:4222' })
	const jsm = await jetstreamManager(nc)
	await jsm.streams.delete(id.toUpperCase()).catch(() => {})
	await jsm.streams.delete(`${id.toUpperCase()}_DLQ`).catch(() => {})
	await nc.close()
}

export const token = (secret: string, sub: string, roles: string[] = []) => signToken(secret, { sub, roles, ttlSeconds: 3600 })

/** createAuctions opens `count` auctions ending in an hour and returns their ids. */
export async function createAuctions(target: Target, count: number, prefix = 'b'): Promise<string[]> {
	const seller = await token(target.secret, 'bench-seller', ['seller'])
	const ids: string[] = []
	for (let i = 0; i < count; i++) {
		const res = await fetch(`${target.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
			body: JSON.stringify({ id: `${prefix}${i}`, title: `bench ${i}`, startingPrice: 100, increment: 1, endsAt: Date.now() + 3_600_000 }),
		})
		if (res.status !== 201) throw new Error(`creating an auction failed: ${res.status} ${await res.text()}`)
		ids.push(`${prefix}${i}`)
	}
	return ids
}

/**
 * bidCounts reads gavel_bids_total from /metrics, by outcome (rejections summed). With several
 * instances, each counts the requests it answered: the sum counts every bid once.
 */
export async function bidCounts(url: string | string[]): Promise<{ accepted: number; rejected: number; replayed: number }> {
	if (Array.isArray(url)) {
		const each = await Promise.all(url.map((u) => bidCounts(u)))
		return each.reduce((sum, c) => ({ accepted: sum.accepted + c.accepted, rejected: sum.rejected + c.rejected, replayed: sum.replayed + c.replayed }))
	}
	const text = await (await fetch(`${url}/metrics`)).text()
	const counts = { accepted: 0, rejected: 0, replayed: 0 }
	for (const m of text.matchAll(/^gavel_bids_total\{outcome="(\w+)",reason="[^"]*"\} (\d+)/gm))
		counts[m[1] as keyof typeof counts] += Number(m[2])
	return counts
}
