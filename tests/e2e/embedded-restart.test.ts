import { expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auctionBody, startTestGavel } from '../helpers/gavel.ts'

test('after an embedded restart, an id the archive already holds cannot be reused (its history stays whole)', async () => {
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-restart-'))
	try {
		const first = await startTestGavel({ dataDir })
		const seller = await first.token('sam', ['seller'])
		const post = (url: string, path: string, body: unknown, token: string) =>
			fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
		expect((await post(first.url, '/auctions', auctionBody({ id: 'heirloom' }), seller)).status).toBe(201)
		expect((await post(first.url, '/auctions/heirloom/bids', { amount: 1500 }, await first.token('bob'))).status).toBe(201)
		let archived = 0
		for (let i = 0; i < 100 && archived < 1; i++) {
			archived = ((await (await fetch(`${first.url}/auctions/heirloom/bids`)).json()) as { items: unknown[] }).items.length
			if (archived < 1) await Bun.sleep(20)
		}
		expect(archived).toBe(1)
		await first.gavel.stop() // the memory store forgets; the SQLite archive in DATA_DIR stays

		const second = await startTestGavel({ dataDir })
		try {
			const again = await post(second.url, '/auctions', auctionBody({ id: 'heirloom' }), await second.token('sam', ['seller']))
			expect(again.status).toBe(409)
			expect(await again.json()).toMatchObject({ error: { code: 'EXISTS' } })
			// The history of the first one is still served, and a fresh id works.
			expect(((await (await fetch(`${second.url}/auctions/heirloom/bids`)).json()) as { items: unknown[] }).items).toHaveLength(1)
			expect((await post(second.url, '/auctions', auctionBody({ id: 'heirloom-2' }), await second.token('sam', ['seller']))).status).toBe(201)
		} finally {
			await second.stop()
		}
	} finally {
		await rm(dataDir, { recursive: true, force: true })
	}
})
