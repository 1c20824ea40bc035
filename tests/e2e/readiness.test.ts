import { expect, test } from 'bun:test'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { auctionEvents } from '../contract/archive.ts'
import { until } from '../helpers/archive.ts'
import { auctionBody, startTestGavel } from '../helpers/gavel.ts'
import { createTestSchema } from '../helpers/services.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const readyz = async (url: string) => {
	const res = await fetch(`${url}/readyz`)
	return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks }
}

test('a process with the archiver role is ready only once the archive is migrated; then a chosen id the archive holds is refused', async () => {
	const schema = await createTestSchema()
	const direct = new URL(schema.url)
	const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
	const viaProxy = new URL(schema.url)
	viaProxy.port = String(proxy.port)
	await proxy.close() // a new database the archiver cannot reach yet: nothing is migrated
	// All roles: bids do not need the archive, so the archive being down alone keeps the process ready.
	const g = await startTestGavel({ env: { DATABASE_URL: viaProxy.toString() } })
	const archive = createPostgresArchive({ url: schema.url })
	try {
		const before = await readyz(g.url)
		expect(before.status).toBe(503)
		expect(before.checks).toMatchObject({ memory: 'ok', 'local-bus': 'ok', postgres: 'unavailable', 'archive-schema': 'unavailable' })

		await proxy.open() // the archiver's next attempt (it retries with backoff) migrates
		// The archiver's own check may still show its last failed attempt for a moment.
		const all = { memory: 'ok', 'local-bus': 'ok', postgres: 'ok', archiver: 'ok', 'archive-schema': 'ok' }
		await until(async () => Bun.deepEquals(await readyz(g.url), { status: 200, checks: all }), 'ready once migrated')

		// Now the id check at create works: an id the archive holds is taken.
		const old = auctionEvents()
		await archive.write([old.created()])
		const seller = await g.token('sam', ['seller'])
		const taken = await fetch(`${g.url}/auctions`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', authorization: `Bearer ${seller}` },
			body: JSON.stringify(auctionBody({ id: old.auction })),
		})
		expect(taken.status).toBe(409)
		expect(((await taken.json()) as { error: { code: string } }).error.code).toBe('EXISTS')

		// Once migrated, an archive outage leaves the process ready (bids do not need the archive).
		await proxy.close()
		const outage = await readyz(g.url)
		expect(outage.status).toBe(200)
		expect(outage.checks['archive-schema']).toBe('ok')
	} finally {
		await g.stop()
		await proxy.close()
		await archive.close()
		await schema.drop()
	}
}, 40_000)
