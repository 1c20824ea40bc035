// An embedded gavel (memory store, SQLite archive) keeps every answered commit across a restart:
// the SQLite file is the log, and the memory store is rebuilt from it before the new one serves.
import { expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

const post = (g: TestGavel, path: string, body: unknown, token: string, key?: string) =>
	fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
		body: JSON.stringify(body),
	})

test('after an embedded restart every open auction is back: state, hidden maxima, event window, Idempotency-Keys', async () => {
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-restart-'))
	try {
		const first = await startTestGavel({ dataDir })
		const seller = await first.token('sam', ['seller'])
		const bob = await first.token('bob')
		const carol = await first.token('carol')
		expect((await post(first, '/auctions', auctionBody({ id: 'heirloom', reservePrice: 4000 }), seller)).status).toBe(201)
		const placed = await post(first, '/auctions/heirloom/bids', { amount: 1500, maxAmount: 3000 }, bob, 'bob-1')
		expect(placed.status).toBe(201)
		const placedBody = await placed.text()
		expect((await post(first, '/auctions/heirloom/bids', { amount: 2000 }, carol)).status).toBe(201) // bob's proxy answers: 2100
		const before = await (await fetch(`${first.url}/auctions/heirloom`)).json()
		const eventsBefore = await (await fetch(`${first.url}/auctions/heirloom/events?since=0`)).json()
		await first.gavel.stop() // the memory store forgets; the SQLite file in DATA_DIR stays

		const second = await startTestGavel({ dataDir })
		try {
			// The same state, at once: rebuilt before the new gavel answered anything.
			expect(await (await fetch(`${second.url}/auctions/heirloom`)).json()).toEqual(before)
			expect(await (await fetch(`${second.url}/auctions/heirloom/events?since=0`)).json()).toEqual(eventsBefore)
			expect(((await (await fetch(`${second.url}/auctions?status=open`)).json()) as { items: Array<{ id: string }> }).items.map((a) => a.id)).toContain('heirloom')
			// bob's hidden maximum (3000) still answers carol: the proxy bids for him up to it.
			const challenged = await post(second, '/auctions/heirloom/bids', { amount: 2500 }, carol)
			expect(challenged.status).toBe(201)
			expect(await challenged.json()).toMatchObject({ leading: false, bid: { seq: 3, price: 2600, leader: 'bob', proxy: true } })
			// A retry with bob's key gets the very answer he got before the restart.
			const retried = await post(second, '/auctions/heirloom/bids', { amount: 1500, maxAmount: 3000 }, bob, 'bob-1')
			expect(retried.status).toBe(201)
			expect(retried.headers.get('idempotent-replayed')).toBe('true')
			expect(await retried.text()).toBe(placedBody)
			// The id is taken, and its history is whole.
			const again = await post(second, '/auctions', auctionBody({ id: 'heirloom' }), seller)
			expect(again.status).toBe(409)
			expect(((await (await fetch(`${second.url}/auctions/heirloom/bids?order=asc`)).json()) as { items: Array<{ seq: number }> }).items.map((b) => b.seq)).toEqual([1, 2, 3])
		} finally {
			await second.stop()
		}
	} finally {
		await rm(dataDir, { recursive: true, force: true })
	}
})

test('SIGKILL of an embedded gavel in the middle of a stream of bids loses no answered bid', async () => {
	const { spawnServe } = await import('../helpers/process.ts')
	const { signToken } = await import('../../src/auth/tokens.ts')
	const { TEST_SECRET } = await import('../helpers/gavel.ts')
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-kill-'))
	const env = { DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET }
	const token = (sub: string, roles: string[] = []) => signToken(TEST_SECRET, { sub, roles, ttlSeconds: 600 })
	let serve = await spawnServe(env)
	try {
		const send = (path: string, body: unknown, who: string, key?: string) =>
			fetch(`${serve.url}${path}`, {
				method: 'POST',
				headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
				body: JSON.stringify(body),
			})
		expect((await send('/auctions', auctionBody({ id: 'kettle' }), await token('sam', ['seller']))).status).toBe(201)
		const bidders = await Promise.all(['b0', 'b1', 'b2', 'b3'].map((b) => token(b)))
		// Bids keep coming from four bidders while the process is killed; each 201 is recorded.
		const answered: Array<{ seq: number; price: number }> = []
		let killed = false
		const bidding = Promise.all(
			bidders.map(async (who, n) => {
				for (let i = 0; !killed; i++) {
					const amount = 1000 + (i * 4 + n) * 100
					const res = await send('/auctions/kettle/bids', { amount }, who, `${n}-${i}`).catch(() => null)
					if (!res) return // the process is gone
					if (res.status === 201) {
						const { bid } = (await res.json()) as { bid: { seq: number; price: number } | null }
						if (bid) answered.push(bid)
					} else await res.arrayBuffer()
				}
			}),
		)
		while (answered.length < 40) await Bun.sleep(5)
		serve.proc.kill('SIGKILL')
		killed = true
		await serve.proc.exited
		await bidding
		serve = await spawnServe(env)
		const after = (await (await fetch(`${serve.url}/auctions/kettle`)).json()) as { seq: number; price: number; status: string }
		expect(after.status).toBe('open')
		// Every answered bid is there: the store's seq and price are at least the highest answered.
		const highest = answered.reduce((a, b) => (b.seq > a.seq ? b : a))
		expect(after.seq).toBeGreaterThanOrEqual(highest.seq)
		const history = (await (await fetch(`${serve.url}/auctions/kettle/bids?order=asc&limit=200`)).json()) as { items: Array<{ seq: number }> }
		const seqs = history.items.map((b) => b.seq)
		expect(seqs).toEqual(Array.from({ length: after.seq }, (_, i) => i + 1))
		for (const bid of answered) expect(seqs).toContain(bid.seq)
		// And bidding goes on from the next seq (a bidder who is not leading: a leader would only raise a maximum).
		const next = await send('/auctions/kettle/bids', { amount: after.price + 100_000 }, await token('zed'))
		expect(next.status).toBe(201)
		expect(((await next.json()) as { bid: { seq: number } }).bid.seq).toBe(after.seq + 1)
	} finally {
		serve.proc.kill('SIGKILL')
		await rm(dataDir, { recursive: true, force: true })
	}
})
