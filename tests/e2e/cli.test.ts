import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { jwtVerify } from 'jose'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLI, runCli, spawnServe, type ServeProcess } from '../helpers/process.ts'

const ROOT = join(CLI, '../../..')
import { eventually } from '../helpers/wait.ts'
import { NATS_URL } from '../helpers/services.ts'

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

	test('the banner’s token command works as printed, from where gavel was started', async () => {
		const hint = /get a token: {2}(.+?) {3}\(/.exec(serve.stderr())?.[1]
		expect(hint).toBe(`DATA_DIR=${dataDir} bun run gavel token --sub alice --role seller`)
		const sh = Bun.spawn(['sh', '-c', hint!], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '' } })
		const token = (await new Response(sh.stdout).text()).trim()
		expect(await sh.exited).toBe(0)
		const created = await fetch(`${serve.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
			body: JSON.stringify({ title: 'Banner', startingPrice: 100, increment: 10, endsAt: Date.now() + 60_000 }),
		})
		expect(created.status).toBe(201)
	})

	test('token, auction create, bid, list and show: sentences for people, --json for scripts', async () => {
		const env = { DATA_DIR: dataDir, GAVEL_URL: serve.url }
		const seller = await runCli(['token', '--sub', 'sam', '--role', 'seller'], env)
		expect(seller).toMatchObject({ code: 0, stderr: '' })
		const bob = (await runCli(['token', '--sub', 'bob'], env)).stdout.trim()
		const carol = (await runCli(['token', '--sub', 'carol'], env)).stdout.trim()
		const create = ['auction', 'create', '--title', 'Brass lamp', '--starting-price', '1000', '--increment', '100', '--ends-in', '10m', '--token', seller.stdout.trim()]

		const created = await runCli([...create, '--id', 'cli-lamp'], env)
		expect(created).toMatchObject({ code: 0, stderr: '' })
		expect(created.stdout).toMatch(/^cli-lamp "Brass lamp" open · starts at 10\.00 USD · increment 1\.00 · ends \d\d:\d\d:\d\d \(in (10m|9m 59s)\)\n$/)
		const json = await runCli([...create, '--id', 'cli-json', '--json'], env)
		expect(JSON.parse(json.stdout)).toMatchObject({ id: 'cli-json', status: 'open', startingPrice: 1000 })

		const lead = await runCli(['bid', 'cli-lamp', '1100', '--max', '2500', '--token', bob], env)
		expect(lead).toMatchObject({ code: 0, stdout: 'bob leads at 11.00 USD · your maximum is now 25.00 · next minimum 12.00\n' })
		const outbid = await runCli(['bid', 'cli-lamp', '1500', '--token', carol], env)
		expect(outbid.stdout).toBe('outbid by a proxy bid: price 16.00 USD, leader bob · next minimum 17.00\n')
		const raised = await runCli(['bid', 'cli-lamp', '1700', '--max', '3000', '--token', bob], env)
		expect(raised.stdout).toBe('you still lead at 16.00 USD · your maximum is now 30.00 (hidden; the price did not move)\n')
		const placed = await runCli(['bid', 'cli-json', '1000', '--token', bob, '--json'], env)
		expect(JSON.parse(placed.stdout)).toMatchObject({ leading: true, bid: { amount: 1000, price: 1000 } })

		const low = await runCli(['bid', 'cli-lamp', '1', '--token', carol], env)
		expect(low).toMatchObject({ code: 1, stdout: '', stderr: 'gavel: 409 TOO_LOW: the minimum bid is 17.00 USD: bid 1700 or more\n' })
		const bad = await runCli(['bid', 'cli-lamp', '12.50', '--token', bob], env)
		expect(bad.code).toBe(2)
		expect(bad.stderr).toContain('whole number')

		const list = await runCli(['auction', 'list', '--status', 'open'], env)
		expect(list.code).toBe(0)
		const rows = list.stdout.trim().split('\n')
		expect(rows[0]).toMatch(/^ID +TITLE +STATUS +PRICE +LEADER +BIDS +ENDS IN$/)
		expect(rows.find((r) => r.startsWith('cli-lamp '))).toMatch(/^cli-lamp +Brass lamp +open +16\.00 USD +bob +2 +(10m|9m \d\ds)$/)
		const page = JSON.parse((await runCli(['auction', 'list', '--limit', '1', '--json'], env)).stdout) as { items: Array<{ id: string }>; nextCursor: string | null }
		expect(page.items).toHaveLength(1)
		expect(page.nextCursor).not.toBeNull()

		// The history is the archive's, written right behind the bids: wait until it holds both.
		for (let tries = 0; tries < 200; tries++) {
			const history = (await (await fetch(`${serve.url}/auctions/cli-lamp/bids`)).json()) as { items: unknown[] }
			if (history.items.length === 2) break
			await Bun.sleep(10)
		}
		const show = await runCli(['auction', 'show', 'cli-lamp'], env)
		expect(show.code).toBe(0)
		expect(show.stdout).toContain('cli-lamp "Brass lamp" · open · seller sam\n  price       16.00 USD, leader bob\n  bids        2 · next minimum 17.00\n')
		expect(show.stdout).toMatch(/the bids, oldest first:\n  #1 [\d:.]+ bob bid 11\.00 → price 11\.00 \(leader bob\)\n  #2 [\d:.]+ carol bid 15\.00 → price 16\.00 \(leader bob\) \[proxy bid\]\n$/)
		const shown = JSON.parse((await runCli(['auction', 'show', 'cli-lamp', '--json'], env)).stdout) as { auction: { id: string }; bids: Array<{ seq: number }> }
		expect(shown.auction.id).toBe('cli-lamp')
		expect(shown.bids.map((b) => b.seq)).toEqual([2, 1])
	})

	test('auction list pages through the API past its 200 per page', async () => {
		const env = { DATA_DIR: dataDir, GAVEL_URL: serve.url }
		const seller = (await runCli(['token', '--sub', 'sam', '--role', 'seller'], env)).stdout.trim()
		const headers = { authorization: `Bearer ${seller}`, 'content-type': 'application/json' }
		const before = ((await (await fetch(`${serve.url}/auctions?limit=200`)).json()) as { items: unknown[] }).items.length
		await Promise.all(
			Array.from({ length: 205 - before }, (_, i) =>
				fetch(`${serve.url}/auctions`, { method: 'POST', headers, body: JSON.stringify({ id: `page-${i}`, title: 'Page', startingPrice: 100, increment: 10, endsAt: Date.now() + 600_000 }) }),
			),
		)
		const all = JSON.parse((await runCli(['auction', 'list', '--limit', '203', '--json'], env)).stdout) as { items: Array<{ id: string }>; nextCursor: string | null }
		expect(all.items).toHaveLength(203)
		expect(new Set(all.items.map((a) => a.id)).size).toBe(203)
		expect(all.nextCursor).not.toBeNull()
		const table = await runCli(['auction', 'list', '--limit', '201'], env)
		expect(table.stdout.trim().split('\n')).toHaveLength(202) // the header and 201 rows
		expect(table.stderr).toContain('there are more: --limit 402')
	})

	test('a gavel that does not answer is one line naming the URL tried, for every client command', async () => {
		const env = { DATA_DIR: dataDir, GAVEL_URL: 'http://127.0.0.1:1' }
		for (const args of [['bid', 'lamp', '100', '--token', 'x'], ['auction', 'list'], ['auction', 'show', 'lamp'], ['watch', 'lamp']]) {
			const r = await runCli(args, env)
			expect({ args, code: r.code, stderr: r.stderr }).toEqual({
				args,
				code: 1,
				stderr: 'gavel: nothing answers at http://127.0.0.1:1 — is gavel running? set --url or GAVEL_URL\n',
			})
		}
		const fromFlag = await runCli(['auction', 'list', '--url', 'http://127.0.0.1:2/'], { DATA_DIR: dataDir })
		expect(fromFlag.stderr).toBe('gavel: nothing answers at http://127.0.0.1:2 — is gavel running? set --url or GAVEL_URL\n')
		const badEnv = await runCli(['auction', 'list'], { GAVEL_URL: 'localhost:3000' })
		expect(badEnv).toMatchObject({ code: 1, stderr: expect.stringContaining('GAVEL_URL: an http or https URL') })
		const badFlag = await runCli(['auction', 'list', '--url', 'localhost:3000'], {})
		expect(badFlag).toMatchObject({ code: 2, stderr: expect.stringContaining('--url must be an http or https URL') })
	})
})

describe('help', () => {
	const commands = ['serve', 'token', 'auction create', 'auction list', 'auction show', 'bid', 'watch', 'health', 'migrate', 'version']

	test('gavel --help lists every command', async () => {
		const help = await runCli(['--help'])
		expect(help.code).toBe(0)
		for (const name of commands) expect(help.stdout).toContain(`\n  ${name} `)
		expect((await runCli(['help'])).stdout).toBe(help.stdout)
	})

	test('<command> --help, <command> -h and help <command> print the same help for every command', async () => {
		await Promise.all(
			commands.map(async (name) => {
				const words = name.split(' ')
				const [long, short, viaHelp] = await Promise.all([runCli([...words, '--help']), runCli([...words, '-h']), runCli(['help', ...words])])
				expect({ name, code: long.code, stderr: long.stderr }).toEqual({ name, code: 0, stderr: '' })
				expect(long.stdout).toContain(`Usage:\n  bun run gavel ${name}`)
				expect(long.stdout).toMatch(/\nExamples?:\n/)
				expect(short.stdout).toBe(long.stdout)
				expect(viaHelp.stdout).toBe(long.stdout)
			}),
		)
		expect((await runCli(['auction', '--help'])).stdout).toContain('auction <create|list|show>')
	})
})

describe('mistakes on the command line', () => {
	test('an unknown option names it and points at that command’s help, exit 2, no stack', async () => {
		const cases: Array<[string[], string]> = [
			[['auction', 'create', '--title', 'Lamp', '--prize', '5'], 'gavel auction create: unknown option --prize\nsee: bun run gavel auction create --help\n'],
			[['bid', 'lamp', '100', '--maximum', '200'], 'gavel bid: unknown option --maximum\nsee: bun run gavel bid --help\n'],
			[['serve', '--port', '8080'], 'gavel serve: unknown option --port\nsee: bun run gavel serve --help\n'],
			[['token', '--sub', 'sam', '--role', 'bidder'], 'gavel token: --role must be seller or admin, got "bidder"\nsee: bun run gavel token --help\n'],
			[['watch', 'lamp', '--since', 'yesterday'], 'gavel watch: --since must be an event seq (a whole number), got "yesterday"\nsee: bun run gavel watch --help\n'],
			[['auction', 'list', '--status', 'sold'], 'gavel auction list: --status must be open, scheduled or closed, got "sold"\nsee: bun run gavel auction list --help\n'],
		]
		await Promise.all(
			cases.map(async ([args, stderr]) => {
				const r = await runCli(args, { DATA_DIR: dataDir })
				expect({ args, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ args, code: 2, stderr, stdout: '' })
			}),
		)
	})

	test('unknown commands and missing values say what is missing', async () => {
		const unknown = await runCli(['frobnicate'], { DATA_DIR: dataDir })
		expect(unknown.code).toBe(2)
		expect(unknown.stderr).toContain('unknown command "frobnicate"')
		expect(unknown.stderr).toContain('see: bun run gavel --help')
		expect((await runCli(['bdi'], { DATA_DIR: dataDir })).stderr).toContain('(did you mean bid?)')
		const noSub = await runCli(['token'], { DATA_DIR: dataDir })
		expect(noSub.code).toBe(2)
		expect(noSub.stderr).toContain('--sub is required')
		const noPrice = await runCli(['auction', 'create', '--title', 'Lamp'], { DATA_DIR: dataDir })
		expect(noPrice.code).toBe(2)
		expect(noPrice.stderr).toContain('--starting-price is required')
		expect(noPrice.stderr).not.toContain('    at ') // a usage mistake prints no stack
		const noAmount = await runCli(['bid', 'lamp'], { DATA_DIR: dataDir })
		expect(noAmount).toMatchObject({ code: 2, stderr: expect.stringContaining('missing AMOUNT') })
		const which = await runCli(['auction'], { DATA_DIR: dataDir })
		expect(which).toMatchObject({ code: 2, stderr: expect.stringContaining('auction <create|list|show>') })
	})
})

describe('gavel token', () => {
	test('never creates a secret: without one it names the absolute path it looked in and what to do, exit 1', async () => {
		const elsewhere = await mkdtemp(join(tmpdir(), 'gavel-cwd-'))
		try {
			const r = await runCli(['token', '--sub', 'sam'], {}, { cwd: elsewhere })
			expect(r.code).toBe(1)
			expect(r.stdout).toBe('')
			expect(r.stderr).toContain(`no development secret at ${join(elsewhere, 'data', 'dev-jwt-secret')}`)
			expect(r.stderr).toContain('start gavel first')
			expect(r.stderr).toContain('DATA_DIR')
			expect(r.stderr).toContain('AUTH_JWT_SECRET')
			expect(await readdir(elsewhere)).toEqual([]) // no ./data, no secret
			const relative = await runCli(['token', '--sub', 'sam'], { DATA_DIR: 'state' }, { cwd: elsewhere })
			expect(relative.stderr).toContain(`no development secret at ${join(elsewhere, 'state', 'dev-jwt-secret')}`)
		} finally {
			await rm(elsewhere, { recursive: true, force: true })
		}
	})

	test('signs with AUTH_JWT_SECRET, or with the secret the server created (the server accepts it)', async () => {
		const secret = 'a-secret-of-at-least-32-characters-0123'
		const signed = await runCli(['token', '--sub', 'sam', '--role', 'seller', '--role', 'admin', '--ttl', '5m'], { AUTH_JWT_SECRET: secret })
		expect(signed.code).toBe(0)
		const { payload } = await jwtVerify(signed.stdout.trim(), new TextEncoder().encode(secret))
		expect(payload).toMatchObject({ sub: 'sam', roles: ['seller', 'admin'] })
		expect(payload.exp! - payload.iat!).toBe(300)
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
		const cluster = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', NATS_URL: 'nats://127.0.0.1:1,nats://u:hunter2@127.0.0.1:2' })
		expect(cluster.code).toBe(1)
		expect(cluster.stderr).toContain('cannot reach NATS at nats://127.0.0.1:1, nats://u:***@127.0.0.1:2')
		expect(cluster.stderr).not.toContain('hunter2')
	})

	test('NATS_STREAM_REPLICAS above 1 on a NATS without a cluster is one clear line, exit 1', async () => {
		const stream = `GTEST_${crypto.randomUUID().replaceAll('-', '').toUpperCase()}`
		const r = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', NATS_URL, NATS_STREAM: stream, NATS_STREAM_REPLICAS: '3' })
		expect(r.code).toBe(1)
		expect(r.stderr).toContain(`gavel: NATS at ${NATS_URL} refused gavel's setup: stream ${stream} is to have 3 replicas`)
		expect(r.stderr).toContain('replicas > 1 not supported in non-clustered mode')
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
			// SIGTERM once the first answer is back, so the server is taking bids (not after a fixed
			// few ms, which a busy machine may spend before any bid arrives) and most are in flight.
			let answered = () => {}
			const firstAnswer = new Promise<void>((resolve) => (answered = resolve))
			const bids = Array.from({ length: 200 }, (_, i) =>
				fetch(`${serve.url}/auctions/drain/bids`, {
					method: 'POST',
					headers: { authorization: `Bearer ${bidder}`, 'content-type': 'application/json', 'idempotency-key': `k${i}` },
					body: JSON.stringify({ amount: 100 + i }),
				}).then(
					(r) => {
						answered()
						return r.status
					},
					() => 'refused' as const,
				),
			)
			await firstAnswer
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
