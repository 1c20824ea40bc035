import { expect, test } from 'bun:test'
import { startTestGavel } from '../helpers/gavel.ts'

/** A loopback port nothing listens on (taken and given back). */
const freePort = () => {
	const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
	const port = s.port!
	s.stop(true)
	return port
}

test('METRICS_PORT: /metrics only on its own port, a 404 like any unknown route on the public one', async () => {
	const metricsPort = freePort()
	const g = await startTestGavel({ env: { METRICS_PORT: String(metricsPort) } })
	try {
		const pub = await fetch(`${g.url}/metrics`)
		expect(pub.status).toBe(404)
		expect(await pub.json()).toEqual(await (await fetch(`${g.url}/no-such-route`)).json())
		expect((await fetch(`${g.url}/healthz`)).status).toBe(200)
		const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
		expect(scraped.status).toBe(200)
		expect(await scraped.text()).toContain('gavel_ws_connections')
		expect((await fetch(`http://127.0.0.1:${metricsPort}/auctions`)).status).toBe(404)
	} finally {
		await g.stop()
	}
	// Stopped with gavel: the port is free again.
	expect(await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(() => 'open', () => 'closed')).toBe('closed')
})

test('without METRICS_PORT /metrics is on the main port, as before', async () => {
	const g = await startTestGavel()
	try {
		expect((await fetch(`${g.url}/metrics`)).status).toBe(200)
	} finally {
		await g.stop()
	}
})
