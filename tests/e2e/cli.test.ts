import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, spawnServe, type ServeProcess } from '../helpers/process.ts'
import { eventually } from '../helpers/wait.ts'

let dataDir: string
beforeAll(async () => {
	dataDir = await mkdtemp(join(tmpdir(), 'gavel-cli-'))
})
afterAll(() => rm(dataDir, { recursive: true, force: true }))

describe('the gavel command', () => {
	let serve: ServeProcess
	beforeAll(async () => {
		serve = await spawnServe({ DATA_DIR: dataDir })
	})
	afterAll(() => {
		serve.proc.kill('SIGKILL')
	})

	test('serve prints where it listens and how to get a token', async () => {
		expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
		expect(serve.logs.find((l) => l.msg === 'gavel is ready')).toMatchObject({ adapters: { store: 'memory', bus: 'local' } })
		await eventually(() => serve.stderr().includes('gavel token --sub'), 'the banner on stderr')
		expect(serve.stderr()).toContain(serve.url)
	})

	test('token, auction create and bid work against the running server with the dev secret', async () => {
		const env = { DATA_DIR: dataDir, GAVEL_URL: serve.url }
		const seller = await runCli(['token', '--sub', 'sam', '--role', 'seller'], env)
		expect(seller.code).toBe(0)
		const bidder = (await runCli(['token', '--sub', 'bob'], env)).stdout.trim()
		const created = await runCli(
			['auction', 'create', '--id', 'cli-lamp', '--title', 'Lamp', '--starting-price', '1000', '--increment', '100', '--ends-in', '10m', '--token', seller.stdout.trim()],
			env,
		)
		expect(created.stderr).toBe('')
		expect(JSON.parse(created.stdout)).toMatchObject({ id: 'cli-lamp', status: 'open' })
		const bid = await runCli(['bid', 'cli-lamp', '1500', '--max', '3000', '--token', bidder], env)
		expect(bid.code).toBe(0)
		expect(JSON.parse(bid.stdout)).toMatchObject({ leading: true, bid: { amount: 1500, price: 1500 } })
		const low = await runCli(['bid', 'cli-lamp', '1', '--token', bidder], env)
		expect(low.code).toBe(1)
		expect(low.stderr).toContain('409 TOO_LOW')
		const bad = await runCli(['bid', 'cli-lamp', '12.50', '--token', bidder], env)
		expect(bad.code).toBe(1)
		expect(bad.stderr).toContain('whole number')
	})

	test('unknown commands and missing options explain the usage', async () => {
		const unknown = await runCli(['frobnicate'], { DATA_DIR: dataDir })
		expect(unknown.code).toBe(2)
		expect(unknown.stderr).toContain('Usage:')
		const noSub = await runCli(['token'], { DATA_DIR: dataDir })
		expect(noSub.code).toBe(1)
		expect(noSub.stderr).toContain('--sub')
		const noPrice = await runCli(['auction', 'create', '--title', 'Lamp'], { DATA_DIR: dataDir })
		expect(noPrice.code).toBe(1)
		expect(noPrice.stderr).toContain('--starting-price is required')
		expect(noPrice.stderr).not.toContain('    at ') // a usage mistake prints no stack
		const unreachable = await runCli(['bid', 'lamp', '100', '--token', 'x'], { DATA_DIR: dataDir, GAVEL_URL: 'http://127.0.0.1:1' })
		expect(unreachable.code).toBe(1)
		expect(unreachable.stderr).toContain('UNREACHABLE')
	})
})

describe('lifecycle', () => {
	test('a second gavel on a port in use fails with a clear message instead of sharing the port', async () => {
		const first = await spawnServe({ DATA_DIR: dataDir })
		try {
			const port = new URL(first.url).port
			const second = await runCli(['serve'], { DATA_DIR: dataDir, PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'silent' })
			expect(second.code).toBe(1)
			expect(second.stderr).toContain(`port ${port} is already in use`)
		} finally {
			first.proc.kill('SIGKILL')
		}
	})

	test('an unreachable Redis or NATS at start is one clear line naming it (password hidden), exit 1', async () => {
		const redis = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', REDIS_URL: 'redis://user:hunter2@127.0.0.1:1' })
		expect(redis.code).toBe(1)
		expect(redis.stderr).toContain('cannot reach Redis at redis://user:***@127.0.0.1:1')
		expect(redis.stderr).not.toContain('hunter2')
		expect(redis.stderr).not.toContain('Unhandled error event')
		const nats = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', NATS_URL: 'nats://127.0.0.1:1' })
		expect(nats.code).toBe(1)
		expect(nats.stderr).toContain('cannot reach NATS at nats://127.0.0.1:1')
	})

	test('production without a token secret refuses to start, naming the variable', async () => {
		const r = await runCli(['serve'], { NODE_ENV: 'production', DATA_DIR: dataDir, PORT: '0' })
		expect(r.code).toBe(1)
		expect(r.stderr).toContain('AUTH_JWT_SECRET')
	})

	test('SIGTERM finishes the bids in flight and exits 0', async () => {
		const serve = await spawnServe({ DATA_DIR: dataDir, RATE_LIMIT_BIDS_PER_SEC: '0' })
		try {
			const env = { DATA_DIR: dataDir, GAVEL_URL: serve.url }
			const seller = (await runCli(['token', '--sub', 'sam', '--role', 'seller'], env)).stdout.trim()
			const bidder = (await runCli(['token', '--sub', 'bob'], env)).stdout.trim()
			const create = await fetch(`${serve.url}/auctions`, {
				method: 'POST',
				headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
				body: JSON.stringify({ id: 'drain', title: 'Drain', startingPrice: 100, increment: 1, endsAt: Date.now() + 60_000 }),
			})
			expect(create.status).toBe(201)
			const bids = Array.from({ length: 200 }, (_, i) =>
				fetch(`${serve.url}/auctions/drain/bids`, {
					method: 'POST',
					headers: { authorization: `Bearer ${bidder}`, 'content-type': 'application/json', 'idempotency-key': `k${i}` },
					body: JSON.stringify({ amount: 100 + i }),
				}).then(
					(r) => r.status,
					() => 'refused' as const,
				),
			)
			await Bun.sleep(5)
			serve.proc.kill('SIGTERM')
			const statuses = await Promise.all(bids)
			// Every request either got a real answer or was never accepted: nothing half-done.
			expect(statuses.filter((s) => s !== 201 && s !== 409 && s !== 'refused')).toEqual([])
			expect(statuses).toContain(201)
			expect(await serve.proc.exited).toBe(0)
			expect(serve.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']))
		} finally {
			serve.proc.kill('SIGKILL')
		}
	})
})

describe('gavel health', () => {
	test('exits 0 and prints the answer when /readyz is 200; --live asks /healthz', async () => {
		const asked: string[] = []
		const server = Bun.serve({
			port: 0,
			hostname: '127.0.0.1',
			fetch: (req) => {
				asked.push(new URL(req.url).pathname)
				return Response.json({ status: 'ready' })
			},
		})
		try {
			const ready = await runCli(['health'], { PORT: String(server.port), HOST: '0.0.0.0', DATA_DIR: dataDir })
			expect(ready).toMatchObject({ code: 0, stderr: '' })
			expect(JSON.parse(ready.stdout)).toEqual({ status: 'ready' })
			expect((await runCli(['health', '--live', '--url', server.url.href], { DATA_DIR: dataDir })).code).toBe(0)
			expect(asked).toEqual(['/readyz', '/healthz'])
		} finally {
			server.stop(true)
		}
	})

	test('exits 1 naming the URL when gavel is not ready or nothing answers', async () => {
		const server = Bun.serve({
			port: 0,
			hostname: '127.0.0.1',
			fetch: () => Response.json({ status: 'unavailable', checks: { redis: 'no answer in 2000 ms' } }, { status: 503 }),
		})
		const port = String(server.port)
		try {
			const unready = await runCli(['health'], { PORT: port, HOST: '127.0.0.1', DATA_DIR: dataDir })
			expect(unready.code).toBe(1)
			expect(unready.stderr).toContain(`http://127.0.0.1:${port}/readyz answered 503`)
			expect(unready.stderr).toContain('no answer in 2000 ms')
		} finally {
			server.stop(true)
		}
		const nobody = await runCli(['health', '--timeout', '2s'], { PORT: port, HOST: '127.0.0.1', DATA_DIR: dataDir })
		expect(nobody.code).toBe(1)
		expect(nobody.stderr).toContain(`http://127.0.0.1:${port}/readyz did not answer`)
	})

	test('refuses PORT=0, which only the server itself can resolve', async () => {
		const r = await runCli(['health'], { PORT: '0', DATA_DIR: dataDir })
		expect(r.code).toBe(1)
		expect(r.stderr).toContain('pass --url')
	})
})
