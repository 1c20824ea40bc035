import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNats } from '../../bench/chaos/services.ts'
import type { OwnServer } from '../../bench/lib/servers.ts'
import { Children } from '../../bench/lib/servers.ts'
import { configProblems as problems } from '../helpers/config.ts'
import { baseTestEnv, startTestGavel } from '../helpers/gavel.ts'
import { bidDriver } from '../helpers/bids.ts'
import { createTestSchema, type TestSchema } from '../helpers/services.ts'
import { makeCertificates, type TestCertificates } from '../helpers/tls.ts'

/**
 * NATS_USER and NATS_PASSWORD, NATS_CA_FILE and NATS_CA: a NATS that wants a user and TLS (as the
 * AWS stack's does) gets both on every connection gavel opens, the bus's and the archiver's;
 * without them, or with a CA that did not sign the servers' certificate, gavel does not start,
 * and says why in one line. The servers are this test's own (JetStream, free ports, stopped by
 * pid), one with a user only and one with a user and TLS, its certificates made with openssl.
 */
const children = new Children()
let dir = ''
let nats: OwnServer
let natsTls: OwnServer
let certs: TestCertificates
let schema: TestSchema
const USER = 'gavel'
const PASSWORD = 'a-password-from-secrets-manager'

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-nats-auth-'))
	certs = await makeCertificates(dir)
	nats = await startNats(join(dir, 'nats'), children, { user: USER, pass: PASSWORD })
	natsTls = await startNats(join(dir, 'nats-tls'), children, { user: USER, pass: PASSWORD, tls: certs })
	schema = await createTestSchema()
})
afterAll(async () => {
	await children.abort()
	await schema?.drop()
	await rm(dir, { recursive: true, force: true })
})

/** Bids through JetStream, and the archiver (its own connection, the same user and CA) consumed them. */
async function bidsReachTheArchive(env: Record<string, string>): Promise<void> {
	const gavel = await startTestGavel({ real: true, env: { ...env, DATABASE_URL: schema.url } })
	try {
		const d = await bidDriver(gavel.url)
		const auction = await d.create()
		expect(await d.bids(auction, 3)).toBe(3)
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
}

test('with the user and password, bids go through JetStream into the archive; without them gavel names the refusal at start', async () => {
	await bidsReachTheArchive({ NATS_URL: nats.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD })
	await expect(startTestGavel({ real: true, env: { NATS_URL: nats.url, DATABASE_URL: schema.url } })).rejects.toThrow(/NATS.*[Aa]uthorization/)
})

test('over TLS checked against NATS_CA_FILE (a tls:// URL), bids go through JetStream into the archive', async () => {
	expect(natsTls.url).toStartWith('tls://')
	await bidsReachTheArchive({ NATS_URL: natsTls.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD, NATS_CA_FILE: certs.caFile })
})

test('NATS_CA carries the CA as text; a nats:// URL to a TLS server is upgraded and checked the same', async () => {
	const ca = await Bun.file(certs.caFile).text()
	const gavel = await startTestGavel({ real: true, env: { NATS_URL: natsTls.url.replace('tls://', 'nats://'), NATS_USER: USER, NATS_PASSWORD: PASSWORD, NATS_CA: ca } })
	await gavel.stop()
})

test("without the CA, or with another CA, the start stops on the servers' certificate, naming the setting", async () => {
	const env = { NATS_URL: natsTls.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD }
	for (const ca of [{}, { NATS_CA_FILE: certs.otherCaFile }] as Record<string, string>[])
		await expect(startTestGavel({ real: true, env: { ...env, ...ca } })).rejects.toThrow(
			/cannot reach NATS at tls:\/\/127\.0\.0\.1:\d+: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); NATS_CA_FILE or NATS_CA must be the CA/,
		)
})

test('a CA or a tls:// URL makes TLS required: a server without it is refused, not spoken to in clear', async () => {
	const env = { NATS_USER: USER, NATS_PASSWORD: PASSWORD }
	await expect(startTestGavel({ real: true, env: { ...env, NATS_URL: nats.url.replace('nats://', 'tls://') } })).rejects.toThrow(/server does not support 'tls'/)
	await expect(startTestGavel({ real: true, env: { ...env, NATS_URL: nats.url, NATS_CA_FILE: certs.caFile } })).rejects.toThrow(/server does not support 'tls'/)
})

test('gavel serve says what is wrong in one line, never a stack: an unreadable CA file, a CA that did not sign the servers', async () => {
	const serve = async (env: Record<string, string>) => {
		const proc = Bun.spawn([process.execPath, 'src/cli/main.ts', 'serve'], {
			env: { PATH: Bun.env.PATH ?? '', ...baseTestEnv(join(dir, 'serve')), ...env },
			stdout: 'ignore',
			stderr: 'pipe',
		})
		const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
		expect(stderr).not.toMatch(/^\s+at /m)
		return { code, stderr: stderr.trim() }
	}
	const env = { NATS_URL: natsTls.url, NATS_USER: USER, NATS_PASSWORD: PASSWORD }
	const missing = await serve({ ...env, NATS_CA_FILE: join(dir, 'no-such-ca.pem') })
	expect(missing.code).toBe(1)
	expect(missing.stderr).toBe(`gavel: invalid configuration:\n  NATS_CA_FILE: cannot read ${JSON.stringify(join(dir, 'no-such-ca.pem'))} (no such file)`)
	const wrong = await serve({ ...env, NATS_CA_FILE: certs.otherCaFile })
	expect(wrong.code).toBe(1)
	expect(wrong.stderr).toMatch(/^gavel: cannot reach NATS at tls:\/\/127\.0\.0\.1:\d+: unable to verify the first certificate .*NATS_CA_FILE or NATS_CA must be the CA that signed the servers' certificates$/)
})

test('the configuration wants both or neither of user and password, one CA that holds a certificate, and a NATS_URL', async () => {
	expect(problems({ NATS_URL: 'nats://n:4222', NATS_USER: 'gavel' })).toContain('set both')
	expect(problems({ NATS_USER: 'gavel', NATS_PASSWORD: 'p' })).toContain('go with NATS_URL')
	expect(problems({ NATS_URL: 'nats://n:4222', NATS_USER: 'gavel', NATS_PASSWORD: 'p' })).toBe('')
	const ca = await Bun.file(certs.caFile).text()
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA_FILE: certs.caFile })).toBe('')
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA: ca })).toBe('')
	expect(problems({ NATS_CA_FILE: certs.caFile })).toBe('NATS_CA_FILE and NATS_CA go with NATS_URL')
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA_FILE: certs.caFile, NATS_CA: ca })).toContain('set one of them')
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA_FILE: dir })).toMatch(/^NATS_CA_FILE: cannot read ".+" \(EISDIR\)$/)
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA_FILE: certs.keyFile })).toMatch(/^NATS_CA_FILE: ".+server\.key" holds no PEM certificate/)
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA: 'not a certificate' })).toMatch(/^NATS_CA: its text holds no PEM certificate/)
	expect(problems({ NATS_URL: 'tls://n:4222', NATS_CA: ca.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!') })).toMatch(/^NATS_CA: the first certificate in its text cannot be read/)
})
