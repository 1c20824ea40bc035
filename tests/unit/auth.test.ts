import { describe, expect, test } from 'bun:test'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { createAuth, requireRole, signToken } from '../../src/auth/tokens.ts'
import { AppError } from '../../src/errors.ts'

const SECRET = 's'.repeat(40)
const codeOf = async (p: Promise<unknown>) => {
	try {
		await p
		return 'accepted'
	} catch (err) {
		return (err as AppError).code
	}
}

describe('auth', () => {
	test('a token from signToken authenticates with its sub and roles', async () => {
		const auth = createAuth({ secret: SECRET })
		const token = await signToken(SECRET, { sub: 'alice', roles: ['seller'] })
		const p = await auth.authenticate(`Bearer ${token}`)
		expect(p).toEqual({ sub: 'alice', roles: ['seller'] })
		expect(() => requireRole(p, 'seller')).not.toThrow()
		expect(() => requireRole(p, 'admin')).toThrow('admin')
		expect(() => requireRole({ sub: 'root', roles: ['admin'] }, 'seller')).not.toThrow()
	})

	test('refuses a missing header, another scheme, a wrong key, no exp, an expired token and alg none', async () => {
		const auth = createAuth({ secret: SECRET })
		const key = new TextEncoder().encode(SECRET)
		expect(await codeOf(auth.authenticate(undefined))).toBe('UNAUTHORIZED')
		expect(await codeOf(auth.authenticate('Basic abc'))).toBe('UNAUTHORIZED')
		const wrong = await signToken('w'.repeat(40), { sub: 'bob' })
		expect(await codeOf(auth.authenticate(`Bearer ${wrong}`))).toBe('UNAUTHORIZED')
		const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').sign(key)
		expect(await codeOf(auth.authenticate(`Bearer ${noExp}`))).toBe('UNAUTHORIZED')
		const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key)
		expect(await codeOf(auth.authenticate(`Bearer ${noSub}`))).toBe('UNAUTHORIZED')
		const unsigned = `${btoa('{"alg":"none"}').replaceAll('=', '')}.${btoa(`{"sub":"bob","exp":${Date.now() / 1000 + 60}}`).replaceAll('=', '')}.`
		expect(await codeOf(auth.authenticate(`Bearer ${unsigned}`))).toBe('UNAUTHORIZED')
		const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('bob').setExpirationTime('1h').sign(key)
		expect(await codeOf(auth.authenticate(`Bearer ${hs512}`))).toBe('UNAUTHORIZED')
	})

	test('a cached token still expires at its exp', async () => {
		let now = Date.now()
		const auth = createAuth({ secret: SECRET, now: () => now })
		const token = await signToken(SECRET, { sub: 'bob', ttlSeconds: 60 })
		expect((await auth.authenticate(`Bearer ${token}`)).sub).toBe('bob')
		now += 61_000
		expect(await codeOf(auth.authenticate(`Bearer ${token}`))).toBe('UNAUTHORIZED')
	})

	test('issuer and audience are enforced when configured', async () => {
		const auth = createAuth({ secret: SECRET, issuer: 'gavel', audience: 'bidders' })
		const good = await signToken(SECRET, { sub: 'bob', issuer: 'gavel', audience: 'bidders' })
		const bad = await signToken(SECRET, { sub: 'bob', issuer: 'other', audience: 'bidders' })
		expect((await auth.authenticate(`Bearer ${good}`)).sub).toBe('bob')
		expect(await codeOf(auth.authenticate(`Bearer ${bad}`))).toBe('UNAUTHORIZED')
	})

	test('a JWKS URL verifies asymmetric tokens and refuses HS256 ones', async () => {
		const { publicKey, privateKey } = await generateKeyPair('ES256')
		const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
		const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json({ keys: [jwk] }) })
		try {
			const auth = createAuth({ jwksUrl: `http://127.0.0.1:${server.port}/jwks` })
			const token = await new SignJWT({ roles: ['seller'] }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('carol').setExpirationTime('1h').sign(privateKey)
			expect(await auth.authenticate(`Bearer ${token}`)).toEqual({ sub: 'carol', roles: ['seller'] })
			const hs = await signToken(SECRET, { sub: 'carol' })
			expect(await codeOf(auth.authenticate(`Bearer ${hs}`))).toBe('UNAUTHORIZED')
		} finally {
			server.stop(true)
		}
	})

	test('a sub that is not a string of allowed characters is refused, whatever its type', async () => {
		const auth = createAuth({ secret: SECRET })
		const key = new TextEncoder().encode(SECRET)
		const withSub = (sub: unknown) =>
			new SignJWT({ sub } as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key)
		const hostile: unknown[] = [
			42,
			0,
			['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'],
			{ id: 'bob' },
			{},
			null,
			true,
			'',
			'x'.repeat(129),
			'bob\u0000',
			'bob"},"winner":"eve',
			'bob\\',
			'</script>',
			'bob\u2028',
			'bob\r\nx',
			'\ud800',
			'bob smith',
		]
		for (const sub of hostile) expect([sub, await codeOf(auth.authenticate(`Bearer ${await withSub(sub)}`))]).toEqual([sub, 'UNAUTHORIZED'])
		for (const sub of ['bob', 'auth0|5f1c2d', 'google-oauth2|1234567890', 'ann.lee+bids@example.com', 'x'.repeat(128), 'a:b=c_d-e'])
			expect((await auth.authenticate(`Bearer ${await withSub(sub)}`)).sub).toBe(sub)
	})

	test('roles keep only short strings', async () => {
		const auth = createAuth({ secret: SECRET })
		const token = await signToken(SECRET, { sub: 'bob', roles: ['seller', 'x'.repeat(65)] })
		const key = new TextEncoder().encode(SECRET)
		const odd = await new SignJWT({ roles: [1, null, { r: 1 }, 'admin'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(key)
		expect((await auth.authenticate(`Bearer ${token}`)).roles).toEqual(['seller'])
		expect((await auth.authenticate(`Bearer ${odd}`)).roles).toEqual(['admin'])
	})

	test('verified() is true only for a header whose token already verified and has not expired', async () => {
		let now = Date.now()
		const auth = createAuth({ secret: SECRET, now: () => now })
		const token = await signToken(SECRET, { sub: 'bob', ttlSeconds: 60 })
		expect(auth.verified(`Bearer ${token}`)).toBe(false)
		expect(auth.verified('x')).toBe(false)
		await auth.authenticate(`Bearer ${token}`)
		expect(auth.verified(`Bearer ${token}`)).toBe(true)
		expect(auth.verified(`bearer  ${token} `)).toBe(true)
		expect(auth.verified(`Bearer ${token}x`)).toBe(false)
		now += 61_000
		expect(auth.verified(`Bearer ${token}`)).toBe(false)
	})
})
