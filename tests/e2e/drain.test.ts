import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/tokens.ts'
import { auctionBody, TEST_SECRET } from '../helpers/gavel.ts'
import { spawnServe } from '../helpers/process.ts'
import { liveUrl, openLive, type LiveClient } from '../helpers/ws.ts'

setDefaultTimeout(30_000)

let dataDir: string
beforeAll(async () => {
	dataDir = await mkdtemp(join(tmpdir(), 'gavel-drain-'))
})
afterAll(async () => {
	await rm(dataDir, { recursive: true, force: true })
})

test('the first SIGTERM closes every watcher with 1001 spread out, answers HTTP meanwhile, and finishes the bids in flight', async () => {
	const serve = await spawnServe({
		DATA_DIR: dataDir,
		AUTH_JWT_SECRET: TEST_SECRET,
		RATE_LIMIT_BIDS_PER_SEC: '0',
		RATE_LIMIT_IP_PER_SEC: '0',
		LIVE_DRAIN_SPREAD_MS: '1500',
		SHUTDOWN_TIMEOUT_MS: '8000',
	})
	const watchers: LiveClient[] = []
	try {
		const seller = await signToken(TEST_SECRET, { sub: 'sam', roles: ['seller'], ttlSeconds: 600 })
		const bidder = await signToken(TEST_SECRET, { sub: 'bob', roles: [], ttlSeconds: 600 })
		const created = await fetch(`${serve.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
			body: JSON.stringify(auctionBody({ id: 'drain' })),
		})
		expect(created.status).toBe(201)
		for (let i = 0; i < 20; i++) {
			const w = await openLive(liveUrl(serve.url, { auction: 'drain' }))
			await w.next((f) => f.type === 'subscribed', 'subscribed')
			watchers.push(w)
		}
		const closedAt: number[] = []
		const closes = watchers.map((w) => w.closed.then((c) => (closedAt.push(performance.now()), c)))
		const bids = Array.from({ length: 50 }, (_, i) =>
			fetch(`${serve.url}/auctions/drain/bids`, {
				method: 'POST',
				headers: { authorization: `Bearer ${bidder}`, 'content-type': 'application/json', 'idempotency-key': `k${i}` },
				body: JSON.stringify({ amount: 1000 + i * 100 }),
			}).then(
				(r) => r.status,
				() => 'refused' as const,
			),
		)
		await Bun.sleep(5)
		serve.proc.kill('SIGTERM')
		// The first goodbye comes at once; HTTP still answers while the others wait for theirs.
		await Promise.race(closes)
		expect((await fetch(`${serve.url}/healthz`)).status).toBe(200)
		const codes = await Promise.all(closes)
		expect(codes.map((c) => c.code)).toEqual(Array(20).fill(1001))
		// Spread out: not all in the same instant (no particular duration asserted).
		expect(Math.max(...closedAt) - Math.min(...closedAt)).toBeGreaterThan(0)
		expect(new Set(closedAt.map((t) => Math.round(t))).size).toBeGreaterThan(1)
		const statuses = await Promise.all(bids)
		expect(statuses.filter((s) => s !== 201 && s !== 409 && s !== 'refused')).toEqual([])
		expect(statuses).toContain(201)
		expect(await serve.proc.exited).toBe(0)
	} finally {
		for (const w of watchers) w.close()
		serve.proc.kill('SIGKILL')
	}
})

test('LIVE_DRAIN_SPREAD_MS=0 closes them all at once', async () => {
	const serve = await spawnServe({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET, RATE_LIMIT_IP_PER_SEC: '0', LIVE_DRAIN_SPREAD_MS: '0' })
	const watchers: LiveClient[] = []
	try {
		for (let i = 0; i < 5; i++) watchers.push(await openLive(liveUrl(serve.url)))
		serve.proc.kill('SIGTERM')
		expect((await Promise.all(watchers.map((w) => w.closed))).map((c) => c.code)).toEqual(Array(5).fill(1001))
		expect(await serve.proc.exited).toBe(0)
	} finally {
		for (const w of watchers) w.close()
		serve.proc.kill('SIGKILL')
	}
})
