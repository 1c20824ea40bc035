import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNats } from '../../bench/chaos/services.ts'
import type { OwnServer } from '../../bench/lib/servers.ts'
import { Children } from '../../bench/lib/servers.ts'
import { configProblems as problems } from '../helpers/config.ts'
import { startTestGavel } from '../helpers/gavel.ts'
import { bidDriver } from '../helpers/bids.ts'
import { createTestSchema, type TestSchema } from '../helpers/services.ts'

/**
 * NATS_USER and NATS_PASSWORD: a NATS that wants a user (as the AWS stack's does) gets it on every
 * connection gavel opens, the bus's and the archiver's; without them gavel does not start, and
 * says why. The server is this test's own (JetStream, a free port, stopped by pid).
 */
const children = new Children()
let dir = ''
let nats: OwnServer
let schema: TestSchema
const USER = 'gavel'
const PASSWORD = 'a-password-from-secrets-manager'

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-nats-auth-'))
	nats = await startNats(join(dir, 'nats'), children, { user: USER, pass: PASSWORD })
	schema = await createTestSchema()
})
afterAll(async () => {
	await children.abort()
	await schema?.drop()
	await rm(dir, { recursive: true, force: true })
})

test('with the user and password, bids go through JetStream into the archive; without them gavel names the refusal at start', async () => {
	const env = { NATS_URL: nats.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD, DATABASE_URL: schema.url }
	const gavel = await startTestGavel({ real: true, env })
	try {
		const d = await bidDriver(gavel.url)
		const auction = await d.create()
		expect(await d.bids(auction, 3)).toBe(3)
		// The archiver (its own connection, with the same user) consumed them.
		const deadline = Date.now() + 15_000
		let archived = 0
		while (archived < 3 && Date.now() < deadline) {
			const page = (await (await fetch(`${gavel.url}/auctions/${auction}/bids?limit=10`)).json()) as { items?: unknown[] }
			archived = page.items?.length ?? 0
			if (archived < 3) await Bun.sleep(100)
		}
		expect(archived).toBe(3)
	} finally {
		await gavel.stop()
	}
	await expect(startTestGavel({ real: true, env: { NATS_URL: nats.url, DATABASE_URL: schema.url } })).rejects.toThrow(/NATS.*[Aa]uthorization/)
})

test('the configuration wants both or neither, and a NATS_URL', () => {
	expect(problems({ NATS_URL: 'nats://n:4222', NATS_USER: 'gavel' })).toContain('set both')
	expect(problems({ NATS_USER: 'gavel', NATS_PASSWORD: 'p' })).toContain('go with NATS_URL')
	expect(problems({ NATS_URL: 'nats://n:4222', NATS_USER: 'gavel', NATS_PASSWORD: 'p' })).toBe('')
})
