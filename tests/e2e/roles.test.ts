import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'

let closer: TestGavel
beforeAll(async () => {
	closer = await startTestGavel({ env: { ROLES: 'closer' } })
})
afterAll(() => closer.stop())

test('a process without the api role answers ops routes and nothing of the API', async () => {
	expect((await fetch(`${closer.url}/healthz`)).status).toBe(200)
	expect((await fetch(`${closer.url}/readyz`)).status).toBe(200)
	expect((await fetch(`${closer.url}/metrics`)).status).toBe(200)
	for (const path of ['/auctions', '/auctions/a1', '/auctions/a1/bids', '/openapi', '/', '/a/a1', '/sell']) {
		const res = await fetch(`${closer.url}${path}`)
		expect({ path, status: res.status }).toEqual({ path, status: 404 })
		expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
	}
	const bid = await fetch(`${closer.url}/auctions/a1/bids`, { method: 'POST', headers: { authorization: `Bearer ${await closer.token('bob')}`, 'content-type': 'application/json' }, body: '{"amount":100}' })
	expect(bid.status).toBe(404)
	// No live role either: no /live.
	expect((await fetch(`${closer.url}/live`)).status).toBe(404)
})

test('a live-only process serves /live but not the API', async () => {
	const live = await startTestGavel({ env: { ROLES: 'live' } })
	try {
		expect((await fetch(`${live.url}/auctions`)).status).toBe(404)
		const ws = new WebSocket(`${live.url.replace('http', 'ws')}/live?auction=nope`)
		const first = await new Promise<string>((resolve, reject) => {
			ws.onmessage = (m) => resolve(m.data as string)
			ws.onerror = () => reject(new Error('no WebSocket'))
		})
		expect(JSON.parse(first)).toMatchObject({ type: 'error', code: 'NOT_FOUND' })
		ws.close()
	} finally {
		await live.stop()
	}
})
