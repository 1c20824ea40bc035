import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUN_RUNTIME_FLAGS } from '../../scripts/runtime-flags.ts'
import { TEST_SECRET } from '../helpers/gavel.ts'
import { CLI } from '../helpers/process.ts'
import { eventually } from '../helpers/wait.ts'
import { freePort } from '../../bench/lib/servers.ts'

setDefaultTimeout(30_000)

let dir: string
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-startup-wait-'))
})
afterAll(async () => {
	await rm(dir, { recursive: true, force: true })
})

function spawnGavel(env: Record<string, string>) {
	const proc = Bun.spawn(['bun', ...BUN_RUNTIME_FLAGS, CLI, 'serve'], {
		env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dir, AUTH_JWT_SECRET: TEST_SECRET, ...env },
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
	})
	let out = ''
	let err = ''
	void (async () => {
		for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk)
	})()
	void (async () => {
		for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk)
	})()
	return { proc, out: () => out, err: () => err }
}

const status = (url: string) => fetch(url).then((r) => r.status, () => 0)

test('STARTUP_WAIT_S: a gavel whose Redis is down at start answers /healthz, says what it waits for, and serves once Redis is up', async () => {
	const port = freePort()
	const redisPort = freePort()
	const gavel = spawnGavel({ PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_PREFIX: `gtest-wait-${port}`, STARTUP_WAIT_S: '60' })
	let redis: ReturnType<typeof Bun.spawn> | null = null
	try {
		await eventually(() => gavel.out().includes(`waiting for Redis at redis://127.0.0.1:${redisPort}`), 'a waiting line', 15_000)
		expect(gavel.out()).toMatch(/retrying in [\d.]+ s, giving up in [\d.]+ s/)
		expect(await status(`http://127.0.0.1:${port}/healthz`)).toBe(200) // alive: not to be killed
		expect(await status(`http://127.0.0.1:${port}/readyz`)).toBe(503) // not ready: no traffic yet
		expect(await status(`http://127.0.0.1:${port}/auctions`)).toBe(503)
		redis = Bun.spawn(['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdout: 'ignore', stderr: 'ignore' })
		await eventually(() => gavel.out().includes('gavel is ready'), 'gavel ready after Redis came up', 20_000)
		expect(await status(`http://127.0.0.1:${port}/readyz`)).toBe(200)
		expect(await status(`http://127.0.0.1:${port}/auctions`)).toBe(200)
		gavel.proc.kill('SIGTERM')
		expect(await gavel.proc.exited).toBe(0)
	} finally {
		gavel.proc.kill('SIGKILL')
		redis?.kill('SIGKILL')
		await redis?.exited
	}
})

test('STARTUP_WAIT_S: past the wait it exits 1 with the same one-line error as without it', async () => {
	const gavel = spawnGavel({ PORT: '0', REDIS_URL: `redis://127.0.0.1:${freePort()}`, STARTUP_WAIT_S: '2' })
	try {
		expect(await gavel.proc.exited).toBe(1)
		expect(gavel.err()).toContain('cannot reach Redis at redis://127.0.0.1:')
		expect(gavel.out().match(/waiting for Redis/g)?.length ?? 0).toBeGreaterThanOrEqual(2)
	} finally {
		gavel.proc.kill('SIGKILL')
	}
})
