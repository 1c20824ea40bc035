/**
 * Server memory per idle watcher (docs/design.md §9: ≤ 4 KB of RSS per idle WebSocket at 10,000).
 * The server runs in this process, so it can collect garbage before each reading; the watchers
 * run in a child process. The control is a bare Bun.serve whose sockets subscribe to one topic.
 *
 *   bun bench/live-memory.ts [--watchers 10000] [--json]
 */
import { parseArgs } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config.ts'
import { startGavel } from '../src/server.ts'
import { silentLogger } from '../src/observability/log.ts'
import { signToken } from '../src/auth/tokens.ts'

const { values } = parseArgs({ options: { watchers: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false } } })
const WATCHERS = Number(values.watchers)
const SECRET = 'bench-secret-bench-secret-bench-secret-0123'

const rss = () => {
	Bun.gc(true)
	return process.memoryUsage().rss
}

/** Connects the idle watchers from a child process and returns the RSS growth per socket. */
async function measure(url: string): Promise<number> {
	const before = rss()
	const child = Bun.spawn(['bun', join(import.meta.dir, 'idle-watchers.ts'), url, String(WATCHERS)], { stdout: 'pipe', stderr: 'inherit' })
	try {
		const reader = child.stdout.getReader()
		let text = ''
		while (!text.includes('"open"')) {
			const { value, done } = await reader.read()
			if (done) throw new Error(`the watchers did not all open:\n${text}`)
			text += new TextDecoder().decode(value)
		}
		await Bun.sleep(1_000)
		return (rss() - before) / WATCHERS
	} finally {
		child.kill('SIGKILL')
		await child.exited
	}
}

const control = Bun.serve({
	hostname: '127.0.0.1',
	port: 0,
	fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response('upgrade', { status: 426 })),
	websocket: { open: (ws) => void (ws.subscribe('auction'), ws.send('{"type":"subscribed"}')), message() {}, perMessageDeflate: false },
})
const controlPerSocket = await measure(`ws://127.0.0.1:${control.port}/`)
await control.stop(true)

const dataDir = await mkdtemp(join(tmpdir(), 'gavel-mem-'))
const gavel = await startGavel(
	loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'silent', ROLES: 'api,live', RATE_LIMIT_IP_PER_SEC: '0', LIVE_MAX_SOCKETS_PER_IP: '0' }),
	silentLogger(),
)
const seller = await signToken(SECRET, { sub: 'sam', roles: ['seller'], ttlSeconds: 600 })
await fetch(`${gavel.url}/auctions`, {
	method: 'POST',
	headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
	body: JSON.stringify({ id: 'mem', title: 'memory', startingPrice: 100, increment: 10, endsAt: Date.now() + 600_000 }),
})
const gavelPerSocket = await measure(`ws://127.0.0.1:${gavel.port}/live?auction=mem`)
await gavel.stop()
await rm(dataDir, { recursive: true, force: true })

console.log(`\nserver RSS per idle subscribed WebSocket at ${WATCHERS} (after a full GC):`)
console.log(`control (bare Bun.serve): ${(controlPerSocket / 1024).toFixed(2)} KB`)
console.log(`gavel /live (embedded):   ${(gavelPerSocket / 1024).toFixed(2)} KB   (docs/design.md §9: ≤ 4 KB)\n`)
if (values.json) console.log(JSON.stringify({ memory: { watchers: WATCHERS, controlBytesPerSocket: Math.round(controlPerSocket), gavelBytesPerSocket: Math.round(gavelPerSocket) } }))
process.exit(0)
