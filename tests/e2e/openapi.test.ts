// The OpenAPI document as a client gets it from a listening gavel: lint clean under a standard
// linter, OpenAPI 3.1 throughout, and true to what the API answers (every status a route is
// seen answering over HTTP is documented for it, with the shared error body).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

interface Response {
	description: string
	headers?: Record<string, { schema: Record<string, unknown> }>
	content?: Record<string, { schema: Record<string, unknown> }>
}
interface Operation {
	operationId: string
	security?: Array<Record<string, string[]>>
	parameters?: Array<{ name: string; in: string }>
	responses: Record<string, Response>
}
interface Document {
	openapi: string
	servers: Array<{ url: string }>
	security?: unknown[]
	paths: Record<string, Record<string, Operation>>
	components: { schemas: Record<string, Record<string, unknown>>; securitySchemes: Record<string, unknown> }
}

let g: TestGavel
let doc: Document
let seller: string
let bob: string
beforeAll(async () => {
	g = await startTestGavel()
	const res = await fetch(`${g.url}/openapi/json`)
	expect(res.headers.get('content-type')).toStartWith('application/json')
	doc = (await res.json()) as Document
	seller = await g.token('sam', ['seller'])
	bob = await g.token('bob')
})
afterAll(() => g.stop())

const operations = () =>
	Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })))

/** Every object in a JSON tree, with its JSON pointer. */
function* objectsIn(node: unknown, pointer = '#'): Generator<[string, Record<string, unknown>]> {
	if (Array.isArray(node)) {
		for (const [i, child] of node.entries()) yield* objectsIn(child, `${pointer}/${i}`)
		return
	}
	if (node === null || typeof node !== 'object') return
	const object = node as Record<string, unknown>
	yield [pointer, object]
	for (const [key, child] of Object.entries(object)) yield* objectsIn(child, `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`)
}

describe('the OpenAPI document', () => {
	/**
	 * Redocly's `recommended` ruleset (@redocly/openapi-core, the engine of `redocly lint`): kept
	 * up to date, knows 3.1, and runs in-process on a string. One rule is off and one finding is
	 * accepted, each for a reason that is not a defect of the document:
	 */
	const RULES_OFF = {
		// gavel declares no licence (package.json is private): naming one would be false.
		'info-license': 'off',
	} as const
	const ACCEPTED: Array<{ rule: string; pointer: string; why: string }> = [
		{
			rule: 'operation-2xx-response',
			pointer: '#/paths/~1live/get/responses',
			why: '/live is a WebSocket: its success is 101 Switching Protocols; a plain GET is 426',
		},
	]

	test('lints clean with Redocly recommended: no error, no warning', async () => {
		const config = await createConfig({ extends: ['recommended'], rules: RULES_OFF })
		const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: `${g.url}/openapi/json`, config })
		const accepted = (p: NormalizedProblem) => ACCEPTED.some((a) => a.rule === p.ruleId && p.location.some((l) => l.pointer === a.pointer))
		const shown = problems.filter((p) => !accepted(p)).map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)
		expect(shown).toEqual([])
		// The accepted finding is still real (else the exception would be stale).
		expect(problems.filter(accepted)).toHaveLength(ACCEPTED.length)
	})

	test('the linter would catch a defect: the same document with `nullable` back fails', async () => {
		const config = await createConfig({ extends: ['recommended'], rules: RULES_OFF })
		const broken = structuredClone(doc)
		const view = broken.paths['/auctions/{id}']!.get!.responses['200']!.content!['application/json']!.schema as {
			properties: Record<string, Record<string, unknown>>
		}
		view.properties.price!.nullable = true
		const problems = await lintFromString({ source: JSON.stringify(broken), absoluteRef: 'broken.json', config })
		expect(problems.map((p) => p.ruleId)).toContain('struct')
	})

	test('is OpenAPI 3.1 throughout: a field that may be null is a type union, never `nullable`', () => {
		expect(doc.openapi).toStartWith('3.1.')
		expect([...objectsIn(doc)].filter(([, o]) => 'nullable' in o).map(([p]) => p)).toEqual([])
		const view = doc.paths['/auctions/{id}']!.get!.responses['200']!.content!['application/json']!.schema as {
			properties: Record<string, { type: unknown }>
		}
		expect(view.properties.price!.type).toEqual(['integer', 'null'])
		expect(view.properties.buyNowPrice!.type).toEqual(['integer', 'null'])
		expect(view.properties.leader!.type).toEqual(['string', 'null'])
		const placed = doc.paths['/auctions/{id}/bids']!.post!.responses['201']!.content!['application/json']!.schema as {
			properties: Record<string, { type: unknown }>
		}
		expect(placed.properties.bid!.type).toEqual(['object', 'null'])
	})

	test('money and times are integers: no schema anywhere is a string-or-integer', () => {
		// Elysia's t.Integer documents itself as anyOf [string format integer, integer].
		const stringIntegers = [...objectsIn(doc)].filter(([, o]) => o.type === 'string' && o.format === 'integer').map(([p]) => p)
		expect(stringIntegers).toEqual([])
		const view = doc.paths['/auctions/{id}']!.get!.responses['200']!.content!['application/json']!.schema as {
			properties: Record<string, { type: unknown }>
		}
		for (const field of ['startingPrice', 'softCloseMs', 'startsAt', 'endsAt', 'maxEndsAt', 'createdAt', 'bidCount', 'seq'])
			expect({ field, type: view.properties[field]!.type }).toEqual({ field, type: 'integer' })
	})

	test('names a server; the two routes that need a token require the bearer scheme, the rest are public', () => {
		expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })])
		expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
		expect(doc.security).toEqual([])
		const secured = operations()
			.filter(({ op }) => op.security?.some((s) => 'bearer' in s))
			.map(({ path, method }) => `${method.toUpperCase()} ${path}`)
		expect(secured.sort()).toEqual(['POST /auctions', 'POST /auctions/{id}/bids'])
		// The token is the security scheme's business, not a header parameter.
		const authorization = operations().filter(({ op }) => op.parameters?.some((p) => p.in === 'header' && p.name.toLowerCase() === 'authorization'))
		expect(authorization).toEqual([])
	})

	test('every refusal refers to the one Error component and says which codes it carries', () => {
		const error = doc.components.schemas.Error as { properties: { error: { required: string[]; properties: Record<string, unknown> } } }
		expect(error.properties.error.required).toEqual(['code', 'message'])
		let refusals = 0
		for (const { path, method, op } of operations())
			for (const [status, response] of Object.entries(op.responses)) {
				if (Number(status) < 400 || (path === '/readyz' && status === '503')) continue
				refusals++
				const where = `${method.toUpperCase()} ${path} ${status}`
				expect({ where, content: response.content }).toEqual({ where, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })
				expect({ where, description: response.description }).toEqual({ where, description: expect.stringMatching(/`[A-Z_]+`/) })
			}
		expect(refusals).toBeGreaterThan(40)
		for (const { op } of operations()) if (op.responses['429']) expect(op.responses['429'].headers).toHaveProperty('Retry-After')
	})

	test('each operation has a stable id and every response a description of its own', () => {
		const ids = operations().map(({ op }) => op.operationId)
		expect(ids).toEqual(expect.arrayContaining(['createAuction', 'listAuctions', 'getAuction', 'getAuctionEvents', 'placeBid', 'listBids']))
		for (const { path, op } of operations())
			for (const [status, response] of Object.entries(op.responses)) expect({ path, status, d: response.description }).not.toMatchObject({ d: expect.stringMatching(/^Response for status/) })
	})
})

/** A request the test makes, and the documented operation it belongs to. */
interface Probe {
	name: string
	method: 'GET' | 'POST'
	path: string
	/** The operation's path in the document. */
	documented: string
	body?: unknown
	headers?: Record<string, string>
	expect: number
}

describe('what the API answers is what the document says', () => {
	const json = { 'content-type': 'application/json' }
	const tokenOf = (who: 'seller' | 'bob') => ({ authorization: `Bearer ${who === 'seller' ? seller : bob}` })

	async function answer(base: string, probe: Probe): Promise<number> {
		const res = await fetch(`${base}${probe.path}`, {
			method: probe.method,
			headers: probe.headers,
			body: probe.body === undefined ? undefined : typeof probe.body === 'string' ? probe.body : JSON.stringify(probe.body),
		})
		await res.arrayBuffer()
		return res.status
	}

	function expectDocumented(probe: Probe, status: number) {
		const op = doc.paths[probe.documented]?.[probe.method.toLowerCase()]
		const where = `${probe.name}: ${probe.method} ${probe.documented}`
		expect({ where, status }).toEqual({ where, status: probe.expect })
		expect({ where, documented: Object.keys(op?.responses ?? {}) }).toEqual({ where, documented: expect.arrayContaining([String(status)]) })
	}

	test('each status a route answers, success or refusal, is documented for that route', async () => {
		const created = (await (
			await fetch(`${g.url}/auctions`, { method: 'POST', headers: { ...json, ...tokenOf('seller') }, body: JSON.stringify(auctionBody({ id: 'doc-lamp' })) })
		).json()) as { id: string }
		expect(created.id).toBe('doc-lamp')
		const huge = JSON.stringify({ amount: 1000, pad: 'x'.repeat(64 * 1024) })
		const probes: Probe[] = [
			{ name: 'created', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody(), headers: { ...json, ...tokenOf('seller') }, expect: 201 },
			{ name: 'bad JSON', method: 'POST', path: '/auctions', documented: '/auctions', body: '{"title":', headers: { ...json, ...tokenOf('seller') }, expect: 400 },
			{ name: 'no token', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody(), headers: json, expect: 401 },
			{ name: 'no seller role', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody(), headers: { ...json, ...tokenOf('bob') }, expect: 403 },
			{ name: 'id taken', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody({ id: 'doc-lamp' }), headers: { ...json, ...tokenOf('seller') }, expect: 409 },
			{ name: 'body too large', method: 'POST', path: '/auctions', documented: '/auctions', body: huge, headers: { ...json, ...tokenOf('seller') }, expect: 413 },
			{ name: 'invalid', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody({ increment: 0 }), headers: { ...json, ...tokenOf('seller') }, expect: 422 },
			{ name: 'not JSON', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody(), headers: { 'content-type': 'text/plain', ...tokenOf('seller') }, expect: 415 },
			{ name: 'URL too long', method: 'GET', path: `/auctions/${'a'.repeat(9_000)}`, documented: '/auctions/{id}', expect: 414 },
			{ name: 'listed', method: 'GET', path: '/auctions?limit=5', documented: '/auctions', expect: 200 },
			{ name: 'bad status', method: 'GET', path: '/auctions?status=sold', documented: '/auctions', expect: 422 },
			{ name: 'read', method: 'GET', path: '/auctions/doc-lamp', documented: '/auctions/{id}', expect: 200 },
			{ name: 'unknown auction', method: 'GET', path: '/auctions/nope', documented: '/auctions/{id}', expect: 404 },
			{ name: 'bad id', method: 'GET', path: '/auctions/has%20space', documented: '/auctions/{id}', expect: 422 },
			{ name: 'events', method: 'GET', path: '/auctions/doc-lamp/events?since=0', documented: '/auctions/{id}/events', expect: 200 },
			{ name: 'unknown auction', method: 'GET', path: '/auctions/nope/events', documented: '/auctions/{id}/events', expect: 404 },
			{ name: 'bad since', method: 'GET', path: '/auctions/doc-lamp/events?since=-1', documented: '/auctions/{id}/events', expect: 422 },
			{ name: 'bid', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 1000 }, headers: { ...json, ...tokenOf('bob') }, expect: 201 },
			{ name: 'bad JSON', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: '{"amount":', headers: { ...json, ...tokenOf('bob') }, expect: 400 },
			{ name: 'no token', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 2000 }, headers: json, expect: 401 },
			{ name: 'own auction', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 2000 }, headers: { ...json, ...tokenOf('seller') }, expect: 403 },
			{ name: 'unknown auction', method: 'POST', path: '/auctions/nope/bids', documented: '/auctions/{id}/bids', body: { amount: 2000 }, headers: { ...json, ...tokenOf('bob') }, expect: 404 },
			{ name: 'too low', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 1000 }, headers: { ...json, ...tokenOf('bob') }, expect: 409 },
			{ name: 'body too large', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: huge, headers: { ...json, ...tokenOf('bob') }, expect: 413 },
			{ name: 'invalid', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 10.5 }, headers: { ...json, ...tokenOf('bob') }, expect: 422 },
			{ name: 'not JSON', method: 'POST', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', body: { amount: 2000 }, headers: { ...tokenOf('bob') }, expect: 415 },
			{ name: 'history', method: 'GET', path: '/auctions/doc-lamp/bids', documented: '/auctions/{id}/bids', expect: 200 },
			{ name: 'unknown auction', method: 'GET', path: '/auctions/nope/bids', documented: '/auctions/{id}/bids', expect: 404 },
			{ name: 'bad order', method: 'GET', path: '/auctions/doc-lamp/bids?order=up', documented: '/auctions/{id}/bids', expect: 422 },
			{ name: 'plain GET', method: 'GET', path: '/live', documented: '/live', expect: 426 },
			{ name: 'alive', method: 'GET', path: '/healthz', documented: '/healthz', expect: 200 },
			{ name: 'ready', method: 'GET', path: '/readyz', documented: '/readyz', expect: 200 },
			{ name: 'metrics', method: 'GET', path: '/metrics', documented: '/metrics', expect: 200 },
		]
		for (const probe of probes) expectDocumented(probe, await answer(g.url, probe))
	})

	test('429 (per address and per bidder) and 404 (a role not served) are documented where they happen', async () => {
		const limited = await startTestGavel({
			env: { RATE_LIMIT_IP_PER_SEC: '0.001', RATE_LIMIT_IP_BURST: '3', RATE_LIMIT_BIDS_PER_SEC: '0.001', RATE_LIMIT_BURST: '1' },
		})
		const noApi = await startTestGavel({ env: { ROLES: 'closer' } })
		try {
			const sellerToken = { authorization: `Bearer ${await limited.token('sam', ['seller'])}` }
			const bidderToken = { authorization: `Bearer ${await limited.token('bob')}` }
			// A token's first request counts against the address too (until it has verified): the
			// seller's and the bidder's first requests, then one anonymous request, spend the burst of 3.
			await fetch(`${limited.url}/auctions`, { method: 'POST', headers: { ...json, ...sellerToken }, body: JSON.stringify(auctionBody({ id: 'doc-vase' })) })
			const bid: Probe = { name: 'bidder over the limit', method: 'POST', path: '/auctions/doc-vase/bids', documented: '/auctions/{id}/bids', body: { amount: 1000 }, headers: { ...json, ...bidderToken }, expect: 201 }
			expectDocumented(bid, await answer(limited.url, bid))
			await fetch(`${limited.url}/healthz`) // never limited: spends nothing
			expect((await fetch(`${limited.url}/auctions`)).status).toBe(200) // the one anonymous request left
			const anonymous: Array<[string, string]> = [
				['/auctions', '/auctions'],
				['/auctions/doc-vase', '/auctions/{id}'],
				['/auctions/doc-vase/events', '/auctions/{id}/events'],
				['/auctions/doc-vase/bids', '/auctions/{id}/bids'],
				['/live', '/live'],
			]
			for (const [path, documented] of anonymous) expectDocumented({ name: 'anonymous, over the limit', method: 'GET', path, documented, expect: 429 }, await answer(limited.url, { name: '', method: 'GET', path, documented, expect: 0 }))
			const anonymousPost: Probe = { name: 'anonymous, over the limit', method: 'POST', path: '/auctions', documented: '/auctions', body: auctionBody(), headers: json, expect: 429 }
			expectDocumented(anonymousPost, await answer(limited.url, anonymousPost))
			expectDocumented({ ...bid, body: { amount: 5000 }, expect: 429 }, await answer(limited.url, { ...bid, body: { amount: 5000 } }))

			const noApiToken = { authorization: `Bearer ${await noApi.token('sam', ['seller'])}` }
			for (const [path, documented] of anonymous.filter(([p]) => p !== '/live'))
				expectDocumented({ name: 'ROLES without api', method: 'GET', path, documented, expect: 404 }, await answer(noApi.url, { name: '', method: 'GET', path, documented, expect: 0 }))
			for (const [path, documented] of [['/auctions', '/auctions'], ['/auctions/doc-vase/bids', '/auctions/{id}/bids']] as const) {
				const post: Probe = { name: 'ROLES without api', method: 'POST', path, documented, body: { amount: 1000 }, headers: { ...json, ...noApiToken }, expect: 404 }
				expectDocumented(post, await answer(noApi.url, post))
			}
			// A closer has no live role either: no /live route at all.
			expectDocumented({ name: 'ROLES without live', method: 'GET', path: '/live', documented: '/live', expect: 404 }, await answer(noApi.url, { name: '', method: 'GET', path: '/live', documented: '/live', expect: 0 }))
		} finally {
			await limited.stop()
			await noApi.stop()
		}
	})
})

describe('the API reference UI at /openapi', () => {
	const SCALAR_BUNDLE = new URL('../../node_modules/@scalar/api-reference/dist/browser/standalone.js', import.meta.url).pathname

	/** The URLs a page loads or links to: src and href attributes, and any absolute or protocol-relative URL in it. */
	function urlsIn(html: string): { relative: string[]; elsewhere: string[] } {
		const attributes = [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]!)
		const elsewhere = [...html.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>)]+|(?<![:\w])\/\/[a-z0-9.-]+/gi)].map((m) => m[0])
		return { relative: attributes.filter((u) => !/^[a-z][a-z0-9+.-]*:|^\/\//i.test(u)), elsewhere }
	}

	test.each(['/openapi', '/openapi/'])('%s names no other host; its script and document come from gavel', async (pagePath) => {
		const pageUrl = `${g.url}${pagePath}`
		const page = await fetch(pageUrl)
		expect(page.status).toBe(200)
		expect(page.headers.get('content-type')).toStartWith('text/html')
		const html = await page.text()
		const { relative, elsewhere } = urlsIn(html)
		expect(elsewhere).toEqual([])
		const scripts = [...html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => new URL(m[1]!, pageUrl))
		expect(scripts.map((u) => u.href)).toEqual([`${g.url}/openapi/scalar.js`])
		expect(relative.map((u) => new URL(u, pageUrl).origin)).toEqual(relative.map(() => g.url))
		// The document URL handed to Scalar resolves against the page to /openapi/json.
		const documentUrl = /"url":"([^"]+)"/.exec(html)?.[1]
		expect(new URL(documentUrl!, pageUrl).href).toBe(`${g.url}/openapi/json`)
		const script = await fetch(scripts[0]!)
		expect(script.status).toBe(200)
		expect(script.headers.get('content-type')).toStartWith('text/javascript')
	})

	test('the script is the Scalar bundle from its npm package, gzipped on request and revalidated by ETag', async () => {
		const expected = await Bun.file(SCALAR_BUNDLE).bytes()
		const plain = await fetch(`${g.url}/openapi/scalar.js`, { headers: { 'accept-encoding': 'identity' } })
		expect(plain.headers.get('content-encoding')).toBeNull()
		expect(Buffer.from(await plain.arrayBuffer()).equals(Buffer.from(expected))).toBe(true)
		const gzipped = await fetch(`${g.url}/openapi/scalar.js`, { headers: { 'accept-encoding': 'gzip' }, decompress: false })
		expect(gzipped.headers.get('content-encoding')).toBe('gzip')
		const packed = new Uint8Array(await gzipped.arrayBuffer())
		expect(packed.byteLength).toBeLessThan(expected.byteLength / 2)
		expect(Buffer.from(Bun.gunzipSync(packed)).equals(Buffer.from(expected))).toBe(true)
		const etag = plain.headers.get('etag')
		expect(etag).toBeTruthy()
		expect(gzipped.headers.get('etag')).toBe(etag)
		const again = await fetch(`${g.url}/openapi/scalar.js`, { headers: { 'if-none-match': etag! } })
		expect(again.status).toBe(304)
		expect(await again.text()).toBe('')
	})
})
