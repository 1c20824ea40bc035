import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { loadWebAssets, type WebAssets } from './assets.ts'
import { pageShell } from './shell.ts'

const hidden = { detail: { hide: true } }
const AUCTION_ID = /^[A-Za-z0-9_-]{1,64}$/
/** Hashed names never change content: a browser may keep them for a year without asking. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

export interface WebOptions {
	/** Whether the page offers "sign in as" (the development sign-in route exists). */
	devSignIn: boolean
}

/**
 * webModule serves the live auction page (docs/design.md §5b) from gavel itself: one HTML
 * document for `/`, `/a/<id>` and `/sell` (the script draws the page the path names) and its
 * hashed, gzipped assets under `/assets/`. Pages are not API: hidden from the OpenAPI document.
 */
export function webModule(options: WebOptions) {
	let shell: { html: string; csp: string; etag: string } | undefined
	const page = async (request: Request, status = 200) => {
		shell ??= pageShell({ ...(await assets()), devSignIn: options.devSignIn })
		const headers = { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': shell.csp, 'cache-control': 'no-cache', etag: shell.etag }
		if (status === 200 && request.headers.get('if-none-match') === shell.etag) return new Response(null, { status: 304, headers })
		return new Response(shell.html, { status, headers })
	}
	return (
		new Elysia({ name: 'web' })
			.get('/', ({ request }) => page(request), hidden)
			.get('/sell', ({ request }) => page(request), hidden)
			// An id no auction can have is a 404 page; the script says so like for an unknown auction.
			.get('/a/:id', ({ request, params }) => page(request, AUCTION_ID.test(params.id) ? 200 : 404), hidden)
			.get('/assets/:file', async ({ request, params }) => serveAsset(request, await assets(), params.file), hidden)
	)
}

const assets = (): Promise<WebAssets> => loadWebAssets()

/** serveAsset sends one built file: gzipped when the client takes it, cached for good (its name changes with it). */
function serveAsset(request: Request, assets: WebAssets, name: string): Response {
	const file = assets.files.get(name)
	if (file === undefined) throw new AppError('NOT_FOUND', 404, `no asset ${name}`)
	const headers: Record<string, string> = { 'content-type': file.type, 'cache-control': IMMUTABLE, etag: file.etag, vary: 'accept-encoding' }
	if (request.headers.get('if-none-match') === file.etag) return new Response(null, { status: 304, headers })
	if (file.gzipped !== null && /\bgzip\b/.test(request.headers.get('accept-encoding') ?? ''))
		return new Response(file.gzipped, { headers: { ...headers, 'content-encoding': 'gzip' } })
	return new Response(file.body, { headers })
}
