import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { TEST_SECRET } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { spawnServe, type ServeProcess } from '../helpers/process.ts'
import { connectNats, connectRedis, deleteKeys, NATS_URL, REDIS_URL, uniqueName } from '../helpers/services.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { eventually, liveUrl, openLive, type LiveClient } from '../helpers/ws.ts'

/**
 * Raw WebSocket watchers on a live-only instance B, while bids flow through an api instance A:
 * B's NATS connection is cut and comes back (through a TCP proxy, NATS itself untouched), then
 * B is killed and its watchers reconnect to a new B with `since`. Raw sockets do no reordering
 * of their own, so every watcher's seqs must be dense and in order as sent. B also watches
 * quiet auctions, as a real instance does, so re-reading them all after the outage takes a
 * while during which the busy ones' live events keep coming.
 */

const AUCTIONS = 3
const QUIET = 60 // auctions B watches that get no bids: B re-reads them too after the outage
const WATCHERS = 12
const BEFORE_CUT = 20 // bids per auction before B's bus connection is cut
const DURING_CUT = 25 // … while it is cut (B cannot hear of them)
const AFTER = 30 // … after it is back, and after the watchers moved to a new B

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

let dir: string
const shared = {
	REDIS_URL,
	REDIS_PREFIX: uniqueName(),
	NATS_STREAM: uniqueName('GTEST').toUpperCase(),
	NATS_SUBJECT_PREFIX: uniqueName('gtest'),
	NATS_DLQ_STREAM: uniqueName('GTESTDLQ').toUpperCase(),
	AUTH_JWT_SECRET: TEST_SECRET,
	RATE_LIMIT_BIDS_PER_SEC: '0',
	RATE_LIMIT_IP_PER_SEC: '0', // every watcher and bid comes from 127.0.0.1
	LIVE_MAX_SOCKETS_PER_IP: '0',
	NODE_ENV: 'test',
}
const started: ServeProcess[] = []
const serve = async (roles: string, natsUrl: string, name: string) => {
	const p = await spawnServe({ ...shared, NATS_URL: natsUrl, ROLES: roles, DATA_DIR: join(dir, name) })
	started.push(p)
	return p
}
const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(NATS_URL).port || 4222) })

let api: ServeProcess
let d: BidDriver
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-outage-'))
	api = await serve('api', NATS_URL, 'a') // first: it creates the stream
	d = await bidDriver(api.url)
}, 30_000)

afterAll(async () => {
	for (const p of started) {
		p.proc.kill('SIGKILL')
		await p.proc.exited
	}
	await proxy.close()
	await rm(dir, { recursive: true, force: true })
	const redis = await connectRedis()
	await deleteKeys(redis, shared.REDIS_PREFIX)
	await redis.quit()
	const nc = await connectNats()
	const jsm = await jetstreamManager(nc)
	for (const stream of [shared.NATS_STREAM, shared.NATS_DLQ_STREAM]) await jsm.streams.delete(stream).catch(() => {})
	await nc.close()
}, 30_000)

/** Watches every auction on one socket; the socket's frames are kept across reconnects. */
async function watchAll(baseUrl: string, auctions: string[], since?: (auction: string) => number): Promise<LiveClient> {
	const c = await openLive(liveUrl(baseUrl))
	for (const auction of auctions) c.send(since ? { op: 'subscribe', auction, since: since(auction) } : { op: 'subscribe', auction })
	for (const auction of auctions) await c.next((f) => f.type === 'subscribed' && f.auction === auction, `${auction} subscribed`)
	return c
}

test('raw watchers on a live instance get every event once and in order across a bus outage and a restart of that instance', async () => {
	const live = await serve('live', `nats://127.0.0.1:${proxy.port}`, 'b')
	const quiet: string[] = []
	for (let i = 0; i < QUIET; i++) quiet.push(await d.create())
	const idle = await watchAll(live.url, quiet) // watched first, so they come first when B re-reads
	const auctions: string[] = []
	for (let i = 0; i < AUCTIONS; i++) auctions.push(await d.create())
	const first = await Promise.all(Array.from({ length: WATCHERS }, () => watchAll(live.url, auctions)))

	// Bids flow on every auction at once until stopped.
	const placed = new Map(auctions.map((a) => [a, 0]))
	const flow = () => {
		let stopped = false
		const loops = auctions.map(async (a) => {
			while (!stopped) {
				await d.bids(a, 1)
				placed.set(a, placed.get(a)! + 1)
			}
		})
		return async () => {
			stopped = true
			await Promise.all(loops)
		}
	}
	const fewest = () => Math.min(...placed.values())
	const bidsOn = async (n: number, what: string) => {
		const from = fewest()
		await eventually(() => fewest() >= from + n, what, 20_000)
	}
	const sees = (watchers: (a: string) => number) => auctions.every((a) => watchers(a) >= placed.get(a)!)

	const stop = flow()
	await bidsOn(BEFORE_CUT, 'the first bids')
	await proxy.close() // B's NATS connection drops; reconnects are refused
	await bidsOn(DURING_CUT, 'bids while B is cut off')
	await proxy.open()
	await eventually(() => live.logs.some((l) => String(l.msg).startsWith('NATS connection back')), 'B back on NATS', 10_000)
	await bidsOn(AFTER, 'bids after B is back')
	await stop()
	for (const c of first) await eventually(() => sees((a) => c.events(a).length), 'every bid at every watcher', 20_000)
	for (const c of first) for (const a of auctions) expect(c.seqs(a)).toEqual(range(1, placed.get(a)!))

	// B dies; its watchers reconnect to a new B with the last seq they have, while bids go on.
	const again = flow()
	await bidsOn(AFTER / 2, 'bids before B is killed')
	live.proc.kill('SIGKILL')
	await live.proc.exited
	const replacement = await serve('live', NATS_URL, 'b2')
	const second = await Promise.all(first.map((c) => watchAll(replacement.url, auctions, (a) => c.seqs(a).at(-1)!)))
	await bidsOn(AFTER, 'bids after the watchers moved')
	await again()
	const seqs = (i: number, a: string) => [...first[i]!.seqs(a), ...second[i]!.seqs(a)]
	for (const i of first.keys()) await eventually(() => sees((a) => seqs(i, a).length), 'the rest at every watcher', 20_000)
	for (const i of first.keys()) for (const a of auctions) expect(seqs(i, a)).toEqual(range(1, placed.get(a)!))
	expect(idle.events()).toEqual([])
	for (const c of [idle, ...first, ...second]) c.close()
}, 90_000)
