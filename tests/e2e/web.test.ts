// The web page over HTTP (docs/design.md §5b): the one HTML document of `/`, `/a/<id>` and `/sell`,
// its hashed assets (cached for good, gzipped, revalidated by ETag), its CSP, and the development
// sign-in route that exists only with the generated secret. The page itself runs in a real
// browser in tests/browser/web.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { gunzipSync } from 'node:zlib'
import { pagePolicy } from '../../src/http/security-headers.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

let dev: TestGavel
let secured: TestGavel
beforeAll(async () => {
	;[dev, secured] = await Promise.all([startTestGavel({ devSecret: true }), startTestGavel()])
})
afterAll(() => Promise.all([dev.stop(), secured.stop()]))

/** The asset paths a page links: its stylesheet and its module script. */
function linked(html: string): { script: string; style: string } {
	const script = /<script type="module" src="([^"]+)"><\/script>/.exec(html)?.[1]
	const style = /<link rel="stylesheet" href="([^"]+)">/.exec(html)?.[1]
	if (script === undefined || style === undefined) throw new Error(`the page links no script or stylesheet:\n${html}`)
	return { script, style }
}

describe('the pages', () => {
	test('/, /sell and /a/<id> are the same HTML document, under the page CSP: scripts and requests to gavel only, no inline script', async () => {
		const pages = await Promise.all(['/', '/sell', '/a/lamp'].map((path) => fetch(`${dev.url}${path}`)))
		const bodies = await Promise.all(pages.map((res) => res.text()))
		for (const res of pages) {
			expect(res.status).toBe(200)
			expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
			expect(res.headers.get('content-security-policy')).toBe(pagePolicy([]))
			expect(res.headers.get('x-content-type-options')).toBe('nosniff')
			expect(res.headers.get('cache-control')).toBe('no-cache')
		}
		expect(new Set(bodies).size).toBe(1)
		const html = bodies[0]!
		expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/) // every script is a file of gavel's
		expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//) // nothing from another host
		const { script, style } = linked(html)
		expect(script).toMatch(/^\/assets\/main-[a-z0-9]+\.js$/)
		expect(style).toMatch(/^\/assets\/main-[a-z0-9]+\.css$/)
	})

	test('a reload revalidates the document by its ETag: 304, no body', async () => {
		const first = await fetch(`${dev.url}/`)
		const etag = first.headers.get('etag')
		expect(etag).toMatch(/^"[a-z0-9]+"$/)
		const again = await fetch(`${dev.url}/a/lamp`, { headers: { 'if-none-match': etag! } })
		expect(again.status).toBe(304)
		expect(await again.text()).toBe('')
	})

	test('an id no auction can have is a 404 page; an unknown path stays a JSON 404', async () => {
		const bad = await fetch(`${dev.url}/a/has%20space`)
		expect(bad.status).toBe(404)
		expect(bad.headers.get('content-type')).toBe('text/html; charset=utf-8')
		const unknown = await fetch(`${dev.url}/nowhere`)
		expect(unknown.status).toBe(404)
		expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
	})

	test('assets: gzipped when asked, kept for good (hashed names), revalidated by ETag; an unknown one is a JSON 404', async () => {
		const { script, style } = linked(await (await fetch(`${dev.url}/`)).text())
		const plain = await fetch(`${dev.url}${script}`, { headers: { 'accept-encoding': 'identity' } })
		expect(plain.status).toBe(200)
		expect(plain.headers.get('content-type')).toBe('text/javascript;charset=utf-8')
		expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
		expect(plain.headers.get('content-encoding')).toBeNull()
		const source = await plain.text()
		// A raw request: fetch would unpack the gzip and hide what went over the wire.
		const zipped = await fetch(`${dev.url}${script}`, { headers: { 'accept-encoding': 'gzip' }, decompress: false })
		expect(zipped.headers.get('content-encoding')).toBe('gzip')
		expect(zipped.headers.get('vary')).toBe('accept-encoding')
		const packed = new Uint8Array(await zipped.arrayBuffer())
		expect(new TextDecoder().decode(gunzipSync(packed))).toBe(source)
		expect(packed.byteLength).toBeLessThan(source.length / 2)
		console.log(`page script: ${source.length} bytes, ${packed.byteLength} gzipped`)

		const etag = plain.headers.get('etag')!
		const revalidated = await fetch(`${dev.url}${script}`, { headers: { 'if-none-match': etag } })
		expect(revalidated.status).toBe(304)
		const css = await fetch(`${dev.url}${style}`)
		expect(css.headers.get('content-type')).toBe('text/css;charset=utf-8')
		expect(await css.text()).toContain('.price')
		// The script names its source map, which is served too.
		const map = /\/\/# sourceMappingURL=(\S+)/.exec(source)?.[1]
		expect(map).toMatch(/^main-[a-z0-9]+\.js\.map$/)
		expect((await fetch(`${dev.url}/assets/${map}`)).status).toBe(200)
		const missing = await fetch(`${dev.url}/assets/main-0000.js`)
		expect(missing.status).toBe(404)
		expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
	})

	test('the pages are no API: neither in the OpenAPI document nor in its paths', async () => {
		const doc = (await (await fetch(`${dev.url}/openapi/json`)).json()) as { paths: Record<string, unknown> }
		for (const path of ['/', '/sell', '/a/{id}', '/assets/{file}', '/dev/token']) expect(doc.paths).not.toHaveProperty(path)
	})
})

describe('the development sign-in', () => {
	const signIn = (g: TestGavel, body: unknown) =>
		fetch(`${g.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

	test('with the generated secret the page offers it, and POST /dev/token gives a token gavel takes', async () => {
		expect(await (await fetch(`${dev.url}/`)).text()).toContain('<meta name="gavel-dev-sign-in" content="on">')
		const seller = await signIn(dev, { sub: 'sam', seller: true })
		expect(seller.status).toBe(200)
		const { token } = (await seller.json()) as { token: string }
		const created = await fetch(`${dev.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
			body: JSON.stringify(auctionBody({ id: 'dev-lamp' })),
		})
		expect(created.status).toBe(201)
		expect(await created.json()).toMatchObject({ id: 'dev-lamp', sellerId: 'sam' })
		// Without `seller`, a bidder: it bids, it cannot sell.
		const { token: bob } = (await (await signIn(dev, { sub: 'bob' })).json()) as { token: string }
		const headers = { authorization: `Bearer ${bob}`, 'content-type': 'application/json' }
		expect((await fetch(`${dev.url}/auctions/dev-lamp/bids`, { method: 'POST', headers, body: '{"amount":1000}' })).status).toBe(201)
		expect((await fetch(`${dev.url}/auctions`, { method: 'POST', headers, body: JSON.stringify(auctionBody()) })).status).toBe(403)
	})

	test('sub is held to the rule tokens are: a 422 that names it; unknown fields and other types too', async () => {
		for (const body of [
			{ sub: '' },
			{ sub: 'a b' },
			{ sub: 'x'.repeat(129) },
			{ sub: 'bob\u0000' },
			{ sub: 7 },
			{ sub: 'bob', admin: true },
			{ sub: 'bob', seller: 'yes' },
		]) {
			const res = await signIn(dev, body)
			expect({ body, status: res.status }).toEqual({ body, status: 422 })
			expect(await res.json()).toMatchObject({ error: { code: 'VALIDATION', field: expect.stringMatching(/^(sub|admin|seller)$/) } })
		}
		const spaced = (await (await signIn(dev, { sub: 'a b' })).json()) as { error: { message: string } }
		expect(spaced.error.message).toBe('sub: expected 1 to 128 letters, digits or . _ : @ | + = -')
	})

	test('it is limited per address like every request without a token', async () => {
		// A burst of 3 requests per address without a token, then 1 a second.
		const strict = await startTestGavel({ devSecret: true, env: { RATE_LIMIT_IP_PER_SEC: '1', RATE_LIMIT_IP_BURST: '3' } })
		try {
			const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => signIn(strict, { sub: `flood-${i}` })))
			expect(answers.filter((res) => res.status === 200).length).toBeLessThanOrEqual(4)
			const limited = answers.find((res) => res.status === 429)!
			expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
			expect(await limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } })
		} finally {
			await strict.stop()
		}
	})

	test('with a real secret it does not exist: a 404 like any unknown path, and the page does not offer it', async () => {
		const res = await signIn(secured, { sub: 'mallory', seller: true })
		expect(res.status).toBe(404)
		expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } })
		expect(await (await fetch(`${secured.url}/`)).text()).toContain('<meta name="gavel-dev-sign-in" content="off">')
	})

	test('in production it does not exist either', async () => {
		const production = await startTestGavel({ env: { NODE_ENV: 'production' } })
		try {
			expect((await signIn(production, { sub: 'mallory' })).status).toBe(404)
		} finally {
			await production.stop()
		}
	})
})
