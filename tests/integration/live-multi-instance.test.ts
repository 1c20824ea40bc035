import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { jetstreamManager } from '@nats-io/jetstream'
import { TEST_SECRET } from '../helpers/gavel.ts'
import { connectNats, connectRedis, deleteKeys, NATS_URL, REDIS_URL, uniqueName } from '../helpers/services.ts'
import { bidDriver } from '../helpers/bids.ts'
import { eventually, liveUrl, openLive, type LiveClient } from '../helpers/ws.ts'

const WATCHERS = 50
const BIDS = 1_000
const STARTUP_TIMEOUT_MS = 15_000

interface Instance {
	proc: Subprocess<'ignore', 'pipe', 'pipe'>
	url: string
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
let dataDir: string
const shared = {
	REDIS_URL,
	NATS_URL,
	REDIS_PREFIX: uniqueName(),
	NATS_STREAM: uniqueName('GTEST').toUpperCase(),
	NATS_SUBJECT_PREFIX: uniqueName('gtest'),
	AUTH_JWT_SECRET: TEST_SECRET,
	RATE_LIMIT_BIDS_PER_SEC: '0',
	RATE_LIMIT_IP_PER_SEC: '0', // all watchers come from one address
	LIVE_MAX_SOCKETS_PER_IP: '0',
	HOST: '127.0.0.1',
	PORT: '0',
	LOG_LEVEL: 'info',
	NODE_ENV: 'test',
}
const instances: Instance[] = []

/** Spawns `gavel serve` and reads its port from the "gavel is ready" log line. */
async function spawnGavel(roles: string): Promise<Instance> {
	const proc = Bun.spawn(['bun', 'src/cli/main.ts', 'serve'], {
		cwd: join(import.meta.dir, '../..'),
		env: { ...process.env, ...shared, ROLES: roles, DATA_DIR: dataDir },
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
	})
	const instance = { proc, url: '' }
	instances.push(instance) // registered before it is ready, so afterAll stops it whatever happens
	const reader = proc.stdout.getReader()
	const decoder = new TextDecoder()
	let text = ''
	const deadline = Date.now() + STARTUP_TIMEOUT_MS
	while (!instance.url) {
		const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)])
		if (chunk === null || chunk.done) throw new Error(`gavel (${roles}) did not get ready:\n${text}\n${await new Response(proc.stderr).text()}`)
		text += decoder.decode(chunk.value, { stream: true })
		for (const line of text.split('\n')) {
			if (!line.includes('"gavel is ready"')) continue
			instance.url = `http://127.0.0.1:${new URL((JSON.parse(line) as { url: string }).url).port}`
		}
	}
	void drain(reader) // keep reading so a chatty log never blocks the child on a full pipe
	return instance
}

async function drain(reader: { read(): Promise<{ done: boolean }> }) {
	try {
		while (!(await reader.read()).done);
	} catch {}
}

/** Stops one child we started: SIGTERM (graceful), SIGKILL if it hangs. Resolves with its exit code. */
async function stopInstance(instance: Instance): Promise<number | null> {
	if (instance.proc.exitCode !== null || instance.proc.signalCode !== null) return instance.proc.exitCode
	instance.proc.kill('SIGTERM')
	const exited = await Promise.race([instance.proc.exited, Bun.sleep(10_000).then(() => null)])
	if (exited === null) {
		instance.proc.kill('SIGKILL')
		await instance.proc.exited
	}
	return exited
}

let api: Instance
let live: Instance[]
beforeAll(async () => {
	dataDir = await mkdtemp(join(tmpdir(), 'gavel-multi-'))
	api = await spawnGavel('api') // first: it creates the stream the others then find
	live = await Promise.all([spawnGavel('live'), spawnGavel('live')])
}, 30_000)

afterAll(async () => {
	await Promise.all(instances.map(stopInstance))
	await rm(dataDir, { recursive: true, force: true })
	const redis = await connectRedis()
	await deleteKeys(redis, shared.REDIS_PREFIX)
	await redis.quit()
	const nc = await connectNats()
	await (await jetstreamManager(nc)).streams.delete(shared.NATS_STREAM).catch(() => {})
	await nc.close()
}, 30_000)

test('50 watchers on two live instances get each of 1,000 bids from an api instance once, in order', async () => {
	const d = await bidDriver(api.url)
	const a = await d.create()
	const unwatched = await d.create()
	const watchers: LiveClient[] = []
	for (let i = 0; i < WATCHERS; i++) {
		const base = live[i % 2]!.url
		const c = await openLive(i % 4 < 2 ? liveUrl(base, { auction: a }) : liveUrl(base))
		if (i % 4 >= 2) c.send({ op: 'subscribe', auction: a })
		await c.next((f) => f.type === 'subscribed', 'subscribed')
		watchers.push(c)
	}

	expect(await d.bids(a, BIDS)).toBe(BIDS)
	await d.bids(unwatched, 3)
	for (const c of watchers) await eventually(() => c.events(a).length >= BIDS, 'every bid at every watcher', 20_000)
	for (const c of watchers) expect(c.seqs(a)).toEqual(range(1, BIDS))
	expect(watchers.every((c) => c.events(unwatched).length === 0)).toBe(true)

	// Each live instance takes only the watched auction from the bus; the api instance has no /live.
	for (const l of live) {
		const metrics = await (await fetch(`${l.url}/metrics`)).text()
		expect(metrics).toMatch(/^gavel_live_auctions 1$/m)
		expect(metrics).toMatch(new RegExp(`^gavel_ws_connections ${WATCHERS / 2}$`, 'm'))
	}
	expect((await fetch(`${api.url}/live`)).status).toBe(404)

	// A graceful stop of one live instance says goodbye with 1001; the other keeps serving.
	expect(await stopInstance(live[0]!)).toBe(0)
	const goodbyes = await Promise.all(watchers.filter((_, i) => i % 2 === 0).map((c) => c.closed))
	expect(goodbyes.every((g) => g.code === 1001)).toBe(true)
	await d.bids(a, 1)
	for (const c of watchers.filter((_, i) => i % 2 === 1)) await eventually(() => c.events(a).length === BIDS + 1, 'the next bid')
	for (const c of watchers) c.close()
}, 60_000)
