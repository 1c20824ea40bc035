// The typed client as its users get it: `bun run build:client` builds and packs it, a scratch project
// outside the repository installs the tarball (its dependencies come from the npm registry),
// type-checks a consumer under the config the installed TypeScript's `tsc --init` writes, and runs
// the compiled JavaScript on Node and on Bun against a listening gavel. One scratch project serves
// every test: the install is the slow part (~10–20 s).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import rootPackage from '../../package.json' with { type: 'json' }
import { appTypeOnly, packageName, PACKAGE_NAME, rewriteSpecifiers, ROOT, type ClientManifest } from '../../scripts/build-client.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'

setDefaultTimeout(60_000)

interface Run {
	stdout: string
	stderr: string
	code: number | null
}

/** run spawns one command and waits for it; it is killed (by its pid) if it outlives `timeoutMs`. */
async function run(command: string[], cwd: string, timeoutMs = 60_000): Promise<Run> {
	const proc = Bun.spawn(command, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
	const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
	try {
		const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
		return { stdout, stderr, code: proc.signalCode === null ? code : null }
	} finally {
		clearTimeout(timer)
	}
}

const succeeded = (result: Run, what: string) => {
	if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
	return result
}

let dir: string
let packageDir: string
let project: string
let tarball: string
let gavel: TestGavel
let tsc: (...args: string[]) => Promise<Run>

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-client-package-'))
	packageDir = join(dir, 'package')
	succeeded(await run(['bun', 'run', 'build:client', '--outdir', packageDir], ROOT, 120_000), 'bun run build:client')
	const tarballs = (await readdir(packageDir)).filter((name) => name.endsWith('.tgz'))
	expect(tarballs).toEqual([`${PACKAGE_NAME}-${rootPackage.version}.tgz`])
	tarball = join(packageDir, tarballs[0]!)

	project = join(dir, 'consumer')
	await mkdir(project)
	await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
	const install = ['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `typescript@${rootPackage.devDependencies.typescript}`, 'ws@8', '@types/ws@8']
	succeeded(await run(install, project, 180_000), 'npm install')
	tsc = (...args) => run(['node', join(project, 'node_modules/typescript/bin/tsc'), ...args], project)
	succeeded(await tsc('--init'), 'tsc --init')
	gavel = await startTestGavel()
}, 300_000)

afterAll(async () => {
	await gavel?.stop()
	if (dir) await rm(dir, { recursive: true, force: true })
})

/** The consumer: what a Node or Bun service does with the client, printing what it saw as one JSON line. */
const consumer = (url: string, sellerToken: string, bidderToken: string) => `
import WsWebSocket from 'ws'
import { createClient, GavelApiError, unwrap, watch, type GavelEvent } from '${PACKAGE_NAME}'

const url = ${JSON.stringify(url)}
const seller = createClient(url, { token: ${JSON.stringify(sellerToken)} })
const bidder = createClient(url, { token: ${JSON.stringify(bidderToken)} })

const created = await seller.auctions.post({ title: 'Brass lamp', startingPrice: 1000, increment: 100, endsAt: Date.now() + 600_000 })
if (created.data === null) throw new Error(\`create answered \${created.status}\`)
const auction = created.data

// Without a global WebSocket (Node < 22) and without the option, watch() says what to do.
let noSocket: string | null = null
if (globalThis.WebSocket === undefined) {
	try {
		watch(url, auction.id, { onEvent() {} })
	} catch (error) {
		noSocket = error instanceof TypeError ? error.message : \`not a TypeError: \${String(error)}\`
	}
}

const received = new Promise<GavelEvent>((resolve, reject) => {
	const watcher = watch(url, auction.id, {
		// Either type fits the option (ws's is not the DOM's): the runtime's own socket where there is one.
		WebSocket: globalThis.WebSocket === undefined ? WsWebSocket : globalThis.WebSocket,
		since: 0,
		onEvent(event) {
			if (event.type !== 'bid.placed') return
			watcher.close()
			resolve(event)
		},
		onError: reject,
	})
})

let tooLow: { status: number; code: string; minimum: unknown } | null = null
try {
	await unwrap(bidder.auctions({ id: auction.id }).bids.post({ amount: 500 }))
} catch (error) {
	if (!(error instanceof GavelApiError)) throw error
	tooLow = { status: error.status, code: error.code, minimum: error.details.minimum }
}
const placed = await bidder.auctions({ id: auction.id }).bids.post({ amount: 1000 })
const seq: number | undefined = placed.data?.bid?.seq
const event = await received
const runtime = 'Bun' in globalThis ? 'bun' : 'node'
console.log(JSON.stringify({ runtime, created: created.status, auction: auction.id, tooLow, bid: placed.status, seq, event, noSocket }))
`

/** Calls the server does not have or with the wrong types: each must be a compile error. */
const WRONG = `
import { createClient } from '${PACKAGE_NAME}'

const gavel = createClient('http://127.0.0.1:3000', { token: 'token' })
await gavel.auctions({ id: 'lamp' }).bids.post({ amount: 'ten' })
await gavel.auction.get()
const price: string = (await gavel.auctions({ id: 'lamp' }).get()).data!.price
export { price }
`

interface ConsumerOutput {
	runtime: string
	created: number
	auction: string
	tooLow: { status: number; code: string; minimum: unknown } | null
	bid: number
	seq: number | undefined
	event: { type: string; seq: number; auction: string; amount?: number }
	noSocket: string | null
}

async function runConsumer(runtime: string[]): Promise<ConsumerOutput> {
	const result = succeeded(await run([...runtime, 'index.js'], project, 30_000), `${runtime.join(' ')} index.js`)
	return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ConsumerOutput
}

describe('the client package', () => {
	test('is ESM that imports nothing, with declarations, and depends only on what the declarations import', async () => {
		const listing = succeeded(await run(['tar', 'tzf', tarball], dir), 'tar tzf').stdout.trim().split('\n').sort()
		expect(listing).toContain('package/index.js')
		expect(listing).toContain('package/README.md')
		expect(listing).toContain('package/types/client/index.d.ts')
		expect(listing).toContain('package/types/app.d.ts')
		// Only the client's files ship: no server module's declarations (services, adapters, config).
		expect(listing.filter((path) => /\/(adapters|archive|auth|cli|config|server|observability)\b/.test(path))).toEqual([])

		const installed = join(project, 'node_modules', PACKAGE_NAME)
		const manifest = (await Bun.file(join(installed, 'package.json')).json()) as ClientManifest
		expect(manifest.name).toBe(PACKAGE_NAME)
		expect(manifest.version).toBe(rootPackage.version)
		expect(manifest.type).toBe('module')
		expect(manifest.exports['.']).toEqual({ types: './types/client/index.d.ts', import: './index.js' })
		expect(manifest.engines.node).toBe('>=20')
		const ranges: Record<string, string> = rootPackage.dependencies
		expect(manifest.dependencies).toEqual({ '@elysiajs/eden': ranges['@elysiajs/eden']!, '@sinclair/typebox': ranges['@sinclair/typebox']!, elysia: ranges.elysia! })

		const bundle = await Bun.file(join(installed, 'index.js')).text()
		expect(new Bun.Transpiler({ loader: 'js' }).scanImports(bundle)).toEqual([])
		const app = await Bun.file(join(installed, 'types/app.d.ts')).text()
		expect(app).toStartWith("import type { Elysia } from 'elysia';")
		expect(app).not.toContain('AppDeps')
		expect(app).not.toContain('.ts"')
	})

	test('a consumer type-checks under the strict nodenext config of `tsc --init`, the declarations even without skipLibCheck', async () => {
		const config = await Bun.file(join(project, 'tsconfig.json')).text()
		expect(config).toMatch(/^\s*"strict": true,/m)
		expect(config).toMatch(/^\s*"module": "nodenext",/m)
		await writeFile(join(project, 'index.ts'), consumer(gavel.url, await gavel.token('sam', ['seller']), await gavel.token('bob')))
		const compiled = await tsc('-p', '.')
		expect(compiled.stdout + compiled.stderr).toBe('')
		expect(compiled.code).toBe(0)
		expect(await Bun.file(join(project, 'index.js')).exists()).toBe(true)

		// Elysia's and Eden's own declarations do not pass a full lib check; this package's must.
		const strict = await tsc('-p', '.', '--noEmit', '--skipLibCheck', 'false')
		expect(strict.stdout.split('\n').filter((line) => line.includes(`${PACKAGE_NAME}/`))).toEqual([])
		expect(strict.stdout).not.toContain('index.ts(')
	}, 120_000)

	test('a wrong call does not type-check: the routes, bodies and answers are typed', async () => {
		const wrong = join(project, 'wrong.ts')
		await writeFile(wrong, WRONG)
		try {
			const checked = await tsc('-p', '.', '--noEmit')
			expect(checked.code).not.toBe(0)
			const errors = checked.stdout.split('\n').filter((line) => /error TS\d+/.test(line))
			expect(errors.every((line) => line.startsWith('wrong.ts('))).toBe(true)
			expect(errors).toHaveLength(3)
			expect(errors[0]).toContain("wrong.ts(5,50): error TS2322: Type 'string' is not assignable to type 'number'")
			expect(errors[1]).toContain("wrong.ts(6,13): error TS2551: Property 'auction' does not exist")
			expect(errors[2]).toContain("wrong.ts(7,7): error TS2322: Type 'number | null' is not assignable to type 'string'")
		} finally {
			await rm(wrong, { force: true })
		}
	}, 120_000)

	test('the compiled consumer runs on Node: 201s, a typed error, and watch() over `ws` gets the bid', async () => {
		const version = succeeded(await run(['node', '--version'], project), 'node --version').stdout.trim()
		const major = Number(version.slice(1).split('.')[0])
		expect(major).toBeGreaterThanOrEqual(20)
		const out = await runConsumer(['node'])
		expect(out.runtime).toBe('node')
		expect(out.created).toBe(201)
		expect(out.tooLow).toEqual({ status: 409, code: 'TOO_LOW', minimum: 1000 })
		expect(out.bid).toBe(201)
		expect(out.seq).toBe(1)
		expect(out.event).toMatchObject({ type: 'bid.placed', seq: 1, auction: out.auction, amount: 1000 })
		// Node 20 and 21 have no global WebSocket: the consumer's bare watch() was refused with advice.
		if (major < 22) expect(out.noSocket).toContain('npm install ws')
		else expect(out.noSocket).toBeNull()
	})

	test('the same JavaScript runs on Bun, whose global WebSocket watch() uses', async () => {
		const out = await runConsumer([process.execPath])
		expect(out.runtime).toBe('bun')
		expect(out.created).toBe(201)
		expect(out.tooLow).toEqual({ status: 409, code: 'TOO_LOW', minimum: 1000 })
		expect(out.bid).toBe(201)
		expect(out.event).toMatchObject({ type: 'bid.placed', seq: 1, auction: out.auction, amount: 1000 })
		expect(out.noSocket).toBeNull()
	})
})

describe('the declaration post-pass', () => {
	const app = [
		"import { Elysia } from 'elysia';",
		"import type { Logger } from './observability/log.ts';",
		'export interface AppDeps { log: Logger; }',
		'interface Frame { seq: number; }',
		'export declare function createApp(deps: AppDeps): Elysia<"", { x: Frame; y: import("./events.ts").GavelEvent }>;',
		'export type App = ReturnType<typeof createApp>;',
	].join('\n')

	test("keeps of app.ts only `App`, as createApp's return type, and what that type uses", () => {
		const reduced = appTypeOnly(app)
		expect(reduced).toContain("import type { Elysia } from 'elysia';")
		expect(reduced).toContain('interface Frame { seq: number; }')
		expect(reduced).toContain('export type App = Elysia<"", { x: Frame; y: import("./events.ts").GavelEvent }>;')
		expect(reduced).not.toContain('Logger')
		expect(reduced).not.toContain('AppDeps')
		expect(reduced).not.toContain('createApp')
		expect(() => appTypeOnly('export declare const x: number;')).toThrow('exports no `type App`')
	})

	test('rewrites relative .ts specifiers to .js and lists the packages', () => {
		const { text, relativeImports, bareImports } = rewriteSpecifiers(appTypeOnly(app))
		expect(text).toContain('import("./events.js").GavelEvent')
		expect(relativeImports).toEqual(['./events.ts'])
		expect(bareImports).toEqual(['elysia'])
		expect(packageName('@sinclair/typebox/value')).toBe('@sinclair/typebox')
		expect(packageName('elysia')).toBe('elysia')
	})

	test('--outdir never empties a folder that holds something other than an earlier build', async () => {
		const other = await mkdtemp(join(tmpdir(), 'gavel-client-outdir-'))
		try {
			await writeFile(join(other, 'keep.txt'), 'mine')
			const refused = await run(['bun', 'run', 'build:client', '--outdir', other, '--no-pack'], ROOT)
			expect(refused.code).toBe(1)
			expect(refused.stderr).toContain(`holds no earlier ${PACKAGE_NAME} build: not emptying it`)
			expect(await readdir(other)).toEqual(['keep.txt'])
		} finally {
			await rm(other, { recursive: true, force: true })
		}
	})
})
