// The edges of HTTP that Bun would otherwise answer itself with an empty body: every refusal is a
// JSON error like the others. Against `gavel serve` run the way `bun start` runs it (its runtime
// flags included), since Bun's own limits depend on them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/tokens.ts'
import { auctionBody, TEST_SECRET } from '../helpers/gavel.ts'
import { spawnServe, type ServeProcess } from '../helpers/process.ts'
import { rawHttp } from '../helpers/raw-http.ts'

let serve: ServeProcess
let dataDir: string
let bob: string
let auctionId: string
beforeAll(async () => {
	dataDir = await mkdtemp(join(tmpdir(), 'gavel-edges-'))
	serve = await spawnServe({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET })
	bob = await signToken(TEST_SECRET, { sub: 'bob', roles: [], ttlSeconds: 600 })
	const seller = await signToken(TEST_SECRET, { sub: 'sam', roles: ['seller'], ttlSeconds: 600 })
	const created = await fetch(`${serve.url}/auctions`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: `Bearer ${seller}` },
		body: JSON.stringify(auctionBody()),
	})
	expect(created.status).toBe(201)
	auctionId = ((await created.json()) as { id: string }).id
})
afterAll(async () => {
	serve.proc.kill('SIGKILL')
	await rm(dataDir, { recursive: true, force: true })
})

type ErrorBody = { error: { code: string; message: string; [k: string]: unknown } }
const bidsPath = () => `/auctions/${auctionId}/bids`
const chunked = (text: string) =>
	new ReadableStream({
		start(controller) {
			controller.enqueue(new TextEncoder().encode(text))
			controller.close()
		},
	})

describe('HTTP edges answer JSON errors', () => {
	test('a 100 kB URL is 414 URI_TOO_LONG, not a bare 431', async () => {
		const res = await fetch(`${serve.url}/auctions/${'a'.repeat(100_000)}`)
		expect(res.status).toBe(414)
		expect(res.headers.get('content-type')).toContain('application/json')
		expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: 'URI_TOO_LONG', limit: 8192 })
	})

	test('a body of 2 MB announced with Expect: 100-continue is a JSON 413', async () => {
		const { host } = new URL(serve.url)
		const responses = await rawHttp(
			serve.url,
			`POST ${bidsPath()} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${bob}\r\nContent-Type: application/json\r\n` +
				'Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n',
		)
		const final = responses.find((r) => r.status >= 200)
		expect(final?.status).toBe(413)
		expect(final?.headers['content-type']).toContain('application/json')
		expect((JSON.parse(final!.body) as ErrorBody).error.code).toBe('PAYLOAD_TOO_LARGE')
	})

	test('a POST that is not application/json is 415 naming application/json', async () => {
		for (const headers of [{ 'content-type': 'text/plain' }, {}, { 'content-type': 'application/x-www-form-urlencoded' }] as Array<Record<string, string>>) {
			const res = await fetch(`${serve.url}${bidsPath()}`, {
				method: 'POST',
				headers: { authorization: `Bearer ${bob}`, ...headers },
				body: new TextEncoder().encode('{"amount":1000}'),
			})
			expect(res.status).toBe(415)
			const { error } = (await res.json()) as ErrorBody
			expect(error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', expected: 'application/json' })
			expect(error.message).toContain('application/json')
		}
	})

	test('the media type is case-insensitive and may carry a charset', async () => {
		const res = await fetch(`${serve.url}${bidsPath()}`, {
			method: 'POST',
			headers: { authorization: `Bearer ${bob}`, 'content-type': 'Application/JSON; charset=UTF-8' },
			body: '{"amount":1000}',
		})
		expect(res.status).toBe(201)
	})

	test('a chunked 900 kB body is refused at the limit whatever its content type', async () => {
		const big = JSON.stringify({ amount: 5000, pad: 'x'.repeat(900_000) })
		for (const [contentType, status] of [
			['text/plain', 415],
			['Application/JSON', 413],
			['application/json', 413],
		] as const) {
			const res = await fetch(`${serve.url}${bidsPath()}`, {
				method: 'POST',
				headers: { authorization: `Bearer ${bob}`, 'content-type': contentType },
				body: chunked(big),
			})
			expect(res.status).toBe(status)
			expect(res.headers.get('content-type')).toContain('application/json')
		}
	})
})

describe('security headers', () => {
	const expectApiHeaders = (res: Response) => {
		expect(res.headers.get('x-content-type-options')).toBe('nosniff')
		expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		expect(res.headers.get('referrer-policy')).toBe('no-referrer')
	}

	test('every JSON answer, success or refusal, says nosniff and allows nothing to run or frame it', async () => {
		const bid = await fetch(`${serve.url}${bidsPath()}`, {
			method: 'POST',
			headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
			body: '{"amount":999999}',
		})
		expect(bid.status).toBe(201)
		expectApiHeaders(bid)
		for (const path of ['/auctions', `/auctions/${auctionId}`, '/auctions/nope', '/healthz', '/openapi/json', '/no-such-route']) expectApiHeaders(await fetch(`${serve.url}${path}`))
		expectApiHeaders(await fetch(`${serve.url}${bidsPath()}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }))
	})

	test('the API reference page allows its own script and its one inline script (by hash), nothing from elsewhere', async () => {
		const res = await fetch(`${serve.url}/openapi`)
		const html = await res.text()
		const csp = res.headers.get('content-security-policy')!
		expect(res.headers.get('x-content-type-options')).toBe('nosniff')
		const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!)
		expect(inline).toHaveLength(1)
		const hash = new Bun.CryptoHasher('sha256').update(inline[0]!).digest('base64')
		expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`)
		expect(csp).toContain("default-src 'none'")
		expect(csp).toContain("connect-src 'self'")
		expect(csp).not.toMatch(/https?:|\*/)
		expect(csp).not.toContain("'unsafe-eval'")
	})
})
