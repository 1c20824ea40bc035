/**
 * A quick fan-out bench (docs/design.md §9): N watchers on one auction, M bids posted one after
 * another; for every (watcher, bid) the time from posting the bid to the watcher receiving its
 * event, measured on this process's clock. The same run measures the control, a bare Bun.serve
 * that broadcasts each posted bid to a topic (`bench/fanout-control.ts`), so gavel's overhead is
 * the ratio. Both servers run as child processes; the watchers run here.
 *
 *   bun bench/fanout-quick.ts [--watchers 1000] [--bids 200] [--interval-ms 10] [--rounds 3] [--clients 2] [--embedded] [--json]
 *
 * The watchers live in `--clients` child processes (bench/lib/fanout-watchers.ts), split evenly,
 * which record receive times on the wall clock; the bids are posted from this process.
 *
 * The two targets take turns for `--rounds` rounds (the machine is shared, so noise comes and
 * goes); the table shows each one's median round, by p99.
 *
 * Default: gavel on Redis + NATS at their loopback addresses (own key prefix and stream, removed
 * afterwards); --embedded uses the in-memory store and bus instead.
 */
import { parseArgs } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import Redis from 'ioredis'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { signToken } from '../src/auth/tokens.ts'

const { values } = parseArgs({
	options: {
		watchers: { type: 'string', default: '1000' },
		bids: { type: 'string', default: '200' },
		'interval-ms': { type: 'string', default: '10' },
		embedded: { type: 'boolean', default: false },
		rounds: { type: 'string', default: '3' },
		clients: { type: 'string', default: '2' },
		json: { type: 'boolean', default: false },
	},
})
const ROUNDS = Number(values.rounds)
const WATCHERS = Number(values.watchers)
const BIDS = Number(values.bids)
const INTERVAL_MS = Number(values['interval-ms'])
const CLIENTS = Math.max(1, Math.min(Number(values.clients), WATCHERS))
const WARMUP_BIDS = 20
const SECRET = 'bench-secret-bench-secret-bench-secret-0123'
const REDIS_URL = Bun.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const NATS_URL = Bun.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'
const root = join(import.meta.dir, '..')

interface Target {
	name: string
	proc: Subprocess<'ignore', 'pipe', 'inherit'>
	url: string
	/** A watcher socket connects here, already subscribed (query) or subscribed on open. */
	liveUrl: string
	post(amount: number): Promise<void>
	/** The last amount posted. */
	posted: number
}

interface Result {
	name: string
	delivered: number
	expected: number
	p50: number
	p99: number
	max: number
	rssPerSocket: number
	/** Server CPU per measured bid (its fan-out included), in ms. */
	cpuPerBid: number
	/** From the first connect to every watcher subscribed, in ms. */
	openedMs: number
}

const children: Subprocess[] = []
const cleanups: Array<() => Promise<unknown>> = []

async function readLine(proc: Subprocess<'ignore' | 'pipe', 'pipe', 'inherit'>, match: (line: string) => boolean): Promise<string> {
	const reader = proc.stdout.getReader()
	let text = ''
	for (;;) {
		const { value, done } = await reader.read()
		if (done) throw new Error(`child exited before it was ready:\n${text}`)
		text += new TextDecoder().decode(value)
		const line = text.split('\n').find(match)
		if (line) {
			void (async () => {
				while (!(await reader.read()).done);
			})()
			return line
		}
	}
}

/** CPU time (user + system) a process has used so far, in ms. */
const cpuOf = async (pid: number) => {
	const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(') ')[1]!.split(' ')
	return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, in clock ticks of 10 ms
}

const rssOf = async (pid: number) => {
	const status = await Bun.file(`/proc/${pid}/status`).text()
	return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

async function startControl(): Promise<Target> {
	const proc = Bun.spawn(['bun', join(root, 'bench/fanout-control.ts')], { stdin: 'ignore', stdout: 'pipe', stderr: 'inherit' })
	children.push(proc)
	const { port } = JSON.parse(await readLine(proc, (l) => l.startsWith('{'))) as { port: number }
	const url = `http://127.0.0.1:${port}`
	return {
		name: 'control (bare Bun.serve)',
		proc,
		url,
		liveUrl: `ws://127.0.0.1:${port}/live`,
		posted: 0,
		async post(amount) {
			// An event-sized body, so both targets move the same bytes.
			const body = `{"id":"${crypto.randomUUID()}","type":"bid.placed","auction":"bench","seq":${amount},"at":${Date.now()},"bidder":"bob","amount":${amount},"price":${amount},"leader":"bob","proxy":false,"endsAt":${Date.now() + 3_600_000},"reserveMet":true}`
			await (await fetch(url, { method: 'POST', body })).arrayBuffer()
		},
	}
}

async function startGavel(): Promise<Target> {
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-bench-'))
	cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
	const unique = crypto.randomUUID().replaceAll('-', '').slice(0, 12)
	const env: Record<string, string> = {
		...(process.env as Record<string, string>),
		PORT: '0',
		HOST: '127.0.0.1',
		ROLES: 'api,live',
		LOG_LEVEL: 'info',
		NODE_ENV: 'production',
		AUTH_JWT_SECRET: SECRET,
		DATA_DIR: dataDir,
		RATE_LIMIT_BIDS_PER_SEC: '0',
		RATE_LIMIT_IP_PER_SEC: '0', // thousands of watchers from one address
		LIVE_MAX_SOCKETS_PER_IP: '0',
	}
	if (!values.embedded) {
		Object.assign(env, {
			REDIS_URL,
			NATS_URL,
			REDIS_PREFIX: `bench_${unique}`,
			NATS_STREAM: `BENCH_${unique}`,
			NATS_SUBJECT_PREFIX: `bench_${unique}`,
		})
		cleanups.push(async () => {
			const redis = new Redis(REDIS_URL)
			let cursor = '0'
			do {
				const [next, keys] = await redis.scan(cursor, 'MATCH', `bench_${unique}:*`, 'COUNT', 1000)
				cursor = next
				if (keys.length > 0) await redis.del(...keys)
			} while (cursor !== '0')
			await redis.quit()
			const nc = await connect({ servers: NATS_URL })
			await (await jetstreamManager(nc)).streams.delete(`BENCH_${unique}`).catch(() => {})
			await nc.close()
		})
	}
	const proc = Bun.spawn(['bun', join(root, 'src/cli/main.ts'), 'serve'], { env, stdin: 'ignore', stdout: 'pipe', stderr: 'inherit' })
	children.push(proc)
	const ready = JSON.parse(await readLine(proc, (l) => l.includes('"gavel is ready"'))) as { url: string }
	const port = Number(new URL(ready.url).port)
	const url = `http://127.0.0.1:${port}`
	const token = (sub: string, roles: string[] = []) => signToken(SECRET, { sub, roles, ttlSeconds: 3600 })
	const seller = await token('sam', ['seller'])
	const bidders = [await token('bob'), await token('carol')]
	const id = `bench-${unique}`
	const created = await fetch(`${url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
		body: JSON.stringify({ id, title: 'bench', startingPrice: 1, increment: 1, endsAt: Date.now() + 3_600_000 }),
	})
	if (created.status !== 201) throw new Error(`create failed: ${await created.text()}`)
	return {
		name: `gavel (${values.embedded ? 'embedded' : 'Redis + NATS'})`,
		proc,
		url,
		liveUrl: `ws://127.0.0.1:${port}/live?auction=${id}`,
		posted: 0,
		async post(amount) {
			const res = await fetch(`${url}/auctions/${id}/bids`, {
				method: 'POST',
				headers: { authorization: `Bearer ${bidders[amount % 2]}`, 'content-type': 'application/json' },
				body: JSON.stringify({ amount }),
			})
			if (res.status !== 201) throw new Error(`bid failed: ${res.status} ${await res.text()}`)
			await res.arrayBuffer()
		},
	}
}

const wallClock = () => performance.timeOrigin + performance.now()

async function run(target: Target): Promise<Result> {
	// Amounts keep rising from round to round (each gavel bid must beat the last).
	const base = target.posted
	const sentAt = new Float64Array(WARMUP_BIDS + BIDS + 2)
	const rssBefore = await rssOf(target.proc.pid)
	const dir = await mkdtemp(join(tmpdir(), 'gavel-fanout-'))
	const openStarted = performance.now()
	const clients = Array.from({ length: CLIENTS }, (_, i) => {
		const count = Math.floor(WATCHERS / CLIENTS) + (i < WATCHERS % CLIENTS ? 1 : 0)
		const out = join(dir, `receipts-${i}.bin`)
		const proc = Bun.spawn(['bun', join(root, 'bench/lib/fanout-watchers.ts'), target.liveUrl, String(count), out], {
			stdin: 'pipe',
			stdout: 'pipe',
			stderr: 'inherit',
		})
		children.push(proc)
		return { proc, out, ready: readLine(proc, (l) => l.includes('"ready"')) }
	})
	await Promise.all(clients.map((c) => c.ready))
	const openedMs = performance.now() - openStarted
	await Bun.sleep(300)
	const rssPerSocket = ((await rssOf(target.proc.pid)) - rssBefore) / WATCHERS
	let cpuBefore = 0
	for (let n = 1; n <= WARMUP_BIDS + BIDS; n++) {
		if (n === WARMUP_BIDS + 1) cpuBefore = await cpuOf(target.proc.pid)
		sentAt[n] = wallClock()
		await target.post(base + n)
		if (INTERVAL_MS > 0) await Bun.sleep(INTERVAL_MS)
	}
	target.posted = base + WARMUP_BIDS + BIDS
	// Give the last events time to arrive everywhere, then collect what each client saw.
	await Bun.sleep(WATCHERS >= 5_000 ? 3_000 : 1_000)
	const cpuPerBid = ((await cpuOf(target.proc.pid)) - cpuBefore) / BIDS
	const latencies: number[] = []
	for (const c of clients) {
		c.proc.stdin.write('stop\n')
		c.proc.stdin.flush()
		await c.proc.exited
		const receipts = new Float64Array(await Bun.file(c.out).arrayBuffer())
		for (let i = 0; i < receipts.length; i += 2) {
			const n = receipts[i]! - base
			if (n > WARMUP_BIDS && n <= WARMUP_BIDS + BIDS) latencies.push(receipts[i + 1]! - sentAt[n]!)
		}
	}
	await rm(dir, { recursive: true, force: true })
	Bun.gc(true)
	await Bun.sleep(500) // the next round starts from a quiet machine
	latencies.sort((a, b) => a - b)
	const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
	return { name: target.name, delivered: latencies.length, expected: WATCHERS * BIDS, p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? Number.NaN, rssPerSocket, cpuPerBid, openedMs }
}

async function until(predicate: () => boolean, what: string, ms: number) {
	const deadline = Date.now() + ms
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
		await Bun.sleep(5)
	}
}

try {
	const targets = [await startControl(), await startGavel()]
	const rounds: Result[][] = targets.map(() => [])
	for (let round = 0; round < ROUNDS; round++)
		for (const [i, target] of targets.entries()) {
			const result = await run(target)
			if (round > 0) result.rssPerSocket = rounds[i]![0]!.rssPerSocket // the first round's: a fresh process
			rounds[i]!.push(result)
		}
	const results = rounds.map((rs) => [...rs].sort((a, b) => a.p99 - b.p99)[Math.floor(rs.length / 2)]!)
	const [control, gavel] = results as [Result, Result]
	console.log(`\nfan-out: ${WATCHERS} watchers in ${CLIENTS} client processes × ${BIDS} bids, one every ${INTERVAL_MS} ms; bid posted → event received, wall clock`)
	console.log(`median of ${ROUNDS} rounds by p99 (all rounds' p99: ${rounds.map((rs) => rs.map((r) => r.p99.toFixed(1)).join('/')).join(' vs ')} ms)`)
	console.log('target                         delivered     p50 ms   p99 ms   max ms   server CPU/bid   server RSS/socket')
	for (const r of results)
		console.log(
			`${r.name.padEnd(30)} ${((100 * r.delivered) / r.expected).toFixed(2).padStart(7)} %  ${r.p50.toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${r.max.toFixed(2).padStart(7)}   ${r.cpuPerBid.toFixed(2).padStart(7)} ms     ${(r.rssPerSocket / 1024).toFixed(2)} KB`,
		)
	const delivered = rounds.flat().every((r) => r.delivered === r.expected)
	const openMs = { control: Math.round(control.openedMs), gavel: Math.round(gavel.openedMs) }
	console.log(`time to open and subscribe all ${WATCHERS} watchers: control ${openMs.control} ms, gavel ${openMs.gavel} ms`)
	console.log(`p99 ratio gavel / control: ${(gavel.p99 / control.p99).toFixed(2)}× (docs/design.md §9: ≤ 1.25×); every round 100 % delivered: ${delivered}\n`)
	if (values.json)
		console.log(JSON.stringify({ fanout: { watchers: WATCHERS, bids: BIDS, intervalMs: INTERVAL_MS, rounds: ROUNDS, control, gavel, ratio: gavel.p99 / control.p99, delivered, openMs } }))
	for (const target of targets) {
		target.proc.kill('SIGTERM')
		await target.proc.exited
	}
} finally {
	for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
	for (const cleanup of cleanups) await cleanup().catch(() => {})
}
