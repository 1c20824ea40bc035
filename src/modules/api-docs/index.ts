import { Elysia } from 'elysia'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
// Not in the package's exports, so named by path; `type: 'file'` embeds it in the compiled binary.
import scalarBundlePath from '../../../node_modules/@scalar/api-reference/dist/browser/standalone.js' with { type: 'file' }
import { buildDocument, type DocumentInfo } from './document.ts'
import { referencePage } from './page.ts'

const hidden = { detail: { hide: true } }

/**
 * apiDocsModule serves the API's description from gavel itself: the OpenAPI document at
 * `/openapi/json` and the reference UI at `/openapi`, whose script comes from `/openapi/scalar.js`,
 * so that the reference works without any other host (offline, or behind a strict egress).
 * The document is built on its first request, when every route is registered.
 */
export function apiDocsModule(info: DocumentInfo) {
	const docs = new Elysia({ name: 'api-docs' })
	let document: string | undefined
	const pages = new Map<string, { html: string; csp: string }>()
	const page = (request: Request) => {
		const directory = new URL(request.url).pathname.endsWith('/') ? '' : 'openapi/'
		let built = pages.get(directory)
		if (built === undefined) pages.set(directory, (built = referencePage(info.title, directory)))
		return new Response(built.html, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': built.csp } })
	}
	return docs
		.get('/openapi', ({ request }) => page(request), hidden)
		.get('/openapi/json', () => new Response((document ??= JSON.stringify(buildDocument(docs, info))), { headers: { 'content-type': 'application/json' } }), hidden)
		.get('/openapi/scalar.js', ({ request }) => serveBundle(request), hidden)
}

interface PackedBundle {
	etag: string
	gzipped: Uint8Array
}

let packed: Promise<PackedBundle> | undefined

const gzipAsync = promisify(gzip)

/**
 * The bundle's tag and gzip (4.8 MB → about 1.4 MB), made once, on the first request for it. The
 * gzip runs off the event loop (about 100 ms of CPU): bids must not wait behind the docs.
 */
async function pack(): Promise<PackedBundle> {
	const bytes = await Bun.file(scalarBundlePath).bytes()
	return { etag: `"${Bun.hash(bytes).toString(36)}"`, gzipped: new Uint8Array(await gzipAsync(bytes)) }
}

/**
 * serveBundle sends Scalar's script: gzipped when the client accepts it, and revalidated by its
 * ETag (`no-cache`) so that a browser picks up the bundle of a new gavel version at once.
 */
async function serveBundle(request: Request): Promise<Response> {
	const { etag, gzipped } = await (packed ??= pack())
	const headers: Record<string, string> = {
		'content-type': 'text/javascript; charset=utf-8',
		'cache-control': 'no-cache',
		etag,
		vary: 'accept-encoding',
	}
	if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers })
	if (/\bgzip\b/.test(request.headers.get('accept-encoding') ?? ''))
		return new Response(gzipped, { headers: { ...headers, 'content-encoding': 'gzip' } })
	return new Response(Bun.file(scalarBundlePath), { headers })
}
