// The compiled binary, built here as `bun run build` builds it and run from a folder outside the
// repository, so nothing it needs can come from the source tree: the bundled modules, the Lua
// scripts and package.json (text and JSON imports), and the Worker entries.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Glob } from 'bun'
import { jetstreamManager } from '@nats-io/jetstream'
import packageJson from '../../package.json' with { type: 'json' }
import { buildBinary, CLI_ENTRYPOINT, ROOT, workerEntrypoints, type BuiltBinary } from '../../scripts/build.ts'
import { buildWebFiles } from '../../src/modules/web/assets.ts'
import { runCli, spawnServe, type GavelCommand, type ServeProcess } from '../helpers/process.ts'
import { eventually } from '../helpers/wait.ts'
import { connectNats, connectRedis, deleteKeys, NATS_URL, REDIS_URL, uniqueName } from '../helpers/services.ts'

let dir: string
let built: BuiltBinary
let binary: GavelCommand

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-binary-'))
	built = await buildBinary({ outfile: join(dir, 'gavel') })
	console.log(`binary: ${built.entrypoints.join(' + ')} → ${(built.bytes / 2 ** 20).toFixed(1)} MiB, built in ${built.buildMs} ms`)
	binary = { command: [built.outfile], cwd: dir }
}, 120_000)
afterAll(() => rm(dir, { recursive: true, force: true }))

const post = (url: string, token: string, body: unknown) =>
	fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** A seller's and a bidder's token, minted by the binary with the secret `env` gives it. */
async function tokens(env: Record<string, string>) {
	const seller = await runCli(['token', '--sub', 'sam', '--role', 'seller'], env, binary)
	const bidder = await runCli(['token', '--sub', 'bob'], env, binary)
	expect(seller.stderr).toBe('')
	expect(seller.code).toBe(0)
	expect(bidder.code).toBe(0)
	return { seller: seller.stdout.trim(), bidder: bidder.stdout.trim() }
}

/** SIGTERM (by pid) and the exit code; SIGKILL afterwards if it is somehow still running. */
async function terminate(serve: ServeProcess): Promise<number | null> {
	serve.proc.kill('SIGTERM')
	const code = await Promise.race([serve.proc.exited, Bun.sleep(15_000).then(() => null)])
	if (code === null) serve.proc.kill('SIGKILL')
	return code
}

describe('the compiled binary', () => {
	test('embeds the CLI and every Worker entry that exists', async () => {
		expect(built.entrypoints).toEqual([CLI_ENTRYPOINT, ...(await workerEntrypoints(ROOT))])
	})

	test('prints its usage and the version from package.json', async () => {
		const help = await runCli(['--help'], {}, binary)
		expect(help.code).toBe(0)
		expect(help.stdout).toContain(`Usage:\n  ${built.outfile} <command> [options]`)
		expect(help.stdout).toContain('\n  serve ')
		const bidHelp = await runCli(['bid', '--help'], {}, binary)
		expect(bidHelp.stdout).toContain(`${built.outfile} bid lamp 1100 --max 2500`)
		const version = await runCli(['version'], {}, binary)
		expect(version.stdout.trim()).toBe(packageJson.version)
	})

	test('serves with the embedded adapters: ready, an auction, an accepted bid, healthy, exit 0 on SIGTERM', async () => {
		const env = { DATA_DIR: join(dir, 'data-embedded') }
		const serve = await spawnServe(env, binary)
		try {
			const ready = serve.logs.find((l) => l.msg === 'gavel is ready')
			expect(ready).toMatchObject({ adapters: { store: 'memory', bus: 'local' } })
			console.log(`cold start, spawn → "gavel is ready" read: ${Math.round(serve.readyAfterMs)} ms (startupMs in the log: ${ready?.startupMs} ms)`)

			const readyz = await fetch(`${serve.url}/readyz`)
			expect(readyz.status).toBe(200)
			expect(await readyz.json()).toMatchObject({ status: 'ready' })
			const openapi = (await (await fetch(`${serve.url}/openapi/json`)).json()) as { info: { version: string } }
			expect(openapi.info.version).toBe(packageJson.version)

			// The banner names the binary as it was invoked (not `bun run gavel`), and that command works as printed.
			await eventually(() => serve.stderr().includes('get a token'), 'the banner on stderr')
			const hint = /get a token: {2}(.+?) {3}\(/.exec(serve.stderr())?.[1]
			expect(hint).toBe(`DATA_DIR=${env.DATA_DIR} ${built.outfile} token --sub alice --role seller`)
			const sh = Bun.spawn(['sh', '-c', hint!], { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '' } })
			const [hinted, hintCode] = await Promise.all([new Response(sh.stdout).text(), sh.exited])
			expect(hintCode).toBe(0)
			expect((await post(`${serve.url}/auctions`, hinted.trim(), { title: 'Banner', startingPrice: 100, increment: 10, endsAt: Date.now() + 600_000 })).status).toBe(201)

			const { seller, bidder } = await tokens(env)
			const created = await post(`${serve.url}/auctions`, seller, { id: 'bin-lamp', title: 'Lamp', startingPrice: 1000, increment: 100, endsAt: Date.now() + 600_000 })
			expect(created.status).toBe(201)
			const placed = await post(`${serve.url}/auctions/bin-lamp/bids`, bidder, { amount: 1200 })
			expect(placed.status).toBe(201)
			expect(await placed.json()).toMatchObject({ leading: true, bid: { seq: 1, amount: 1200, price: 1200, leader: 'bob' } })

			const port = new URL(serve.url).port
			const health = await runCli(['health'], { ...env, PORT: port, HOST: '0.0.0.0' }, binary)
			expect(health.stderr).toBe('')
			expect(health.code).toBe(0)
			expect(JSON.parse(health.stdout)).toMatchObject({ status: 'ready' })
			expect((await runCli(['health', '--live'], { ...env, PORT: port }, binary)).code).toBe(0)

			// The runtime flags ride in the binary: a 100 kB URL reaches gavel's JSON 414 (Bun alone: a bare 431).
			const long = await fetch(`${serve.url}/auctions/${'a'.repeat(100_000)}`)
			expect(long.status).toBe(414)
			expect(((await long.json()) as { error: { code: string } }).error.code).toBe('URI_TOO_LONG')
		} finally {
			expect(await terminate(serve)).toBe(0)
		}
	})

	test('serves the web page and its assets from inside the executable, as built from source', async () => {
		const fromSource = await buildWebFiles()
		expect(built.webFiles.sort()).toEqual(fromSource.map((file) => file.name).sort())
		const serve = await spawnServe({ DATA_DIR: join(dir, 'data-web') }, binary)
		try {
			for (const path of ['/', '/a/bin-lamp', '/sell']) {
				const page = await fetch(`${serve.url}${path}`)
				expect({ path, status: page.status, type: page.headers.get('content-type') }).toEqual({ path, status: 200, type: 'text/html; charset=utf-8' })
			}
			const html = await (await fetch(`${serve.url}/`)).text()
			// No AUTH_JWT_SECRET here: the binary runs on its development secret and offers "sign in as".
			expect(html).toContain('<meta name="gavel-dev-sign-in" content="on">')
			const linked = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]!)
			expect(linked).toHaveLength(2)
			const executable = Buffer.from(await Bun.file(built.outfile).bytes())
			for (const name of linked) {
				const res = await fetch(`${serve.url}/assets/${name}`, { headers: { 'accept-encoding': 'identity' } })
				expect({ name, status: res.status }).toEqual({ name, status: 200 })
				const source = fromSource.find((file) => file.name === name)
				expect(source).toBeDefined()
				expect(await res.text()).toBe(source!.text)
				// Inside the executable itself, not built from the repository at run time.
				expect(executable.indexOf(Buffer.from(source!.text.slice(0, 2000)))).toBeGreaterThan(-1)
			}
			const token = await fetch(`${serve.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sub":"sam","seller":true}' })
			expect(token.status).toBe(200)
		} finally {
			expect(await terminate(serve)).toBe(0)
		}
	})

	test('with Redis and NATS, the embedded Lua scripts create the auction and judge the bids', async () => {
		const prefix = uniqueName()
		const stream = uniqueName('GTEST').toUpperCase()
		const redis = await connectRedis()
		const nc = await connectNats()
		const env = {
			DATA_DIR: join(dir, 'data-real'),
			REDIS_URL,
			REDIS_PREFIX: prefix,
			NATS_URL,
			NATS_STREAM: stream,
			NATS_SUBJECT_PREFIX: uniqueName('gtest'),
		}
		try {
			const serve = await spawnServe(env, binary)
			try {
				expect(serve.logs.find((l) => l.msg === 'gavel is ready')).toMatchObject({ adapters: { store: 'redis', bus: 'nats' } })
				const { seller, bidder } = await tokens(env)
				const created = await post(`${serve.url}/auctions`, seller, { id: 'bin-vase', title: 'Vase', startingPrice: 500, increment: 50, endsAt: Date.now() + 600_000 })
				expect(created.status).toBe(201)
				const placed = await post(`${serve.url}/auctions/bin-vase/bids`, bidder, { amount: 500, maxAmount: 900 })
				expect(placed.status).toBe(201)
				expect(await placed.json()).toMatchObject({ leading: true, bid: { seq: 1, price: 500 } })
				const low = await post(`${serve.url}/auctions/bin-vase/bids`, bidder, { amount: 510 })
				expect(low.status).toBe(409)
				expect(await low.json()).toMatchObject({ error: { code: 'TOO_LOW', minimum: 550 } })
				expect(await redis.exists(`${prefix}:{bin-vase}`)).toBe(1)
			} finally {
				expect(await terminate(serve)).toBe(0)
			}
		} finally {
			await deleteKeys(redis, prefix)
			await redis.quit()
			await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {})
			await nc.close()
		}
	})
})

describe('Worker entries', () => {
	const probe = 'tests/fixtures/worker-probe'

	test('workerEntrypoints finds workers/<name>/index.ts and nothing else, and none at all is fine', async () => {
		const root = join(dir, 'layout')
		for (const file of ['workers/archiver/index.ts', 'workers/mailer/index.ts', 'workers/mailer/run.ts', 'workers/index.ts'])
			await mkdir(join(root, file, '..'), { recursive: true }).then(() => writeFile(join(root, file), ''))
		expect(await workerEntrypoints(root)).toEqual(['workers/archiver/index.ts', 'workers/mailer/index.ts'])
		await mkdir(join(dir, 'no-workers'))
		expect(await workerEntrypoints(join(dir, 'no-workers'))).toEqual([])
	})

	test('workerUrl finds a Worker entry from source and, embedded, inside a compiled binary', async () => {
		const run = async (cmd: string[]) => {
			const proc = Bun.spawn(cmd, { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '' } })
			const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
			return { stdout: stdout.trim(), stderr, code }
		}
		const fromSource = await run(['bun', join(ROOT, probe, 'main.ts')])
		expect(fromSource).toMatchObject({ code: 0, stdout: `ping from file://${join(ROOT, probe, 'echo-worker.ts')}` })

		const compiled = await buildBinary({ outfile: join(dir, 'probe'), entrypoint: `${probe}/main.ts`, workers: [`${probe}/echo-worker.ts`] })
		const fromBinary = await run([compiled.outfile])
		expect(fromBinary.stderr).toBe('')
		expect(fromBinary.code).toBe(0)
		// Loaded from the binary's embedded files, not from the repository on disk.
		expect(fromBinary.stdout).toMatch(/^ping from file:\/\/\/\$bunfs\/root\/tests\/fixtures\/worker-probe\/echo-worker\.js$/)
	})
})

describe('the Docker build stage', () => {
	test('builds from the files .dockerignore lets into the context, and nothing else', async () => {
		// Replays the stage without Docker: `COPY . .` of the allowlisted paths, then `bun run build`.
		// node_modules is linked instead of installed (that step, `bun install --frozen-lockfile`, is
		// the lockfile's business); a module the build needs outside the allowlist fails here.
		const rules = (await Bun.file(join(ROOT, '.dockerignore')).text())
			.split('\n')
			.map((line) => line.trim())
			.filter((line) => line && !line.startsWith('#'))
		const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''))
		const excluded = rules.filter((r) => r !== '*' && !r.startsWith('!')).map((r) => new Glob(r))
		const context = join(dir, 'context')
		for (const path of allowed.filter((p) => existsSync(join(ROOT, p))))
			await cp(join(ROOT, path), join(context, path), {
				recursive: true,
				filter: (source) => !excluded.some((glob) => glob.match(relative(ROOT, source))),
			})
		await symlink(join(ROOT, 'node_modules'), join(context, 'node_modules'))
		const proc = Bun.spawn(['bun', 'run', 'build'], { cwd: context, stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '' } })
		const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
		// `bun run` echoes the script on stderr; a failed build shows its errors there too.
		expect({ code, stderr }).toEqual({ code: 0, stderr: expect.not.stringContaining('error') })
		expect(stdout).toContain('dist/gavel')
		const version = await runCli(['version'], {}, { command: [join(context, 'dist/gavel')], cwd: dir })
		expect(version.stdout.trim()).toBe(packageJson.version)
	})
})
