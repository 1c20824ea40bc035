import { Elysia, ParseError } from 'elysia'
import { AppError, PayloadTooLargeError, RateLimitedError, UriTooLongError } from './errors.ts'
import { readJsonBody } from './http/body.ts'
import { SECURITY_HEADERS } from './http/security-headers.ts'
import { clientAddress, type TrustProxy } from './http/client-address.ts'
import type { Auth } from './auth/tokens.ts'
import type { Logger } from './observability/log.ts'
import type { Metrics } from './observability/metrics.ts'
import type { AuctionService } from './modules/auctions/service.ts'
import type { BidService } from './modules/bids/service.ts'
import type { HistoryService } from './modules/history/service.ts'
import { auctionsModule } from './modules/auctions/index.ts'
import { liveModule } from './modules/live/index.ts'
import type { LiveHub } from './modules/live/hub.ts'
import { bidsModule } from './modules/bids/index.ts'
import { historyModule } from './modules/history/index.ts'
import { opsModule, type Dependency } from './modules/ops/index.ts'
import { apiDocsModule } from './modules/api-docs/index.ts'
import { describeFailure } from './modules/validation-messages.ts'
import type { RateLimiter } from './modules/limits/rate-limiter.ts'
import { webModule } from './modules/web/index.ts'
import { devSignInModule, type DevSignIn } from './modules/web/dev-sign-in.ts'

/**
 * URLs longer than this are a JSON 414. Bun refuses a request head past its own limit with a bare
 * 431 before gavel sees it; the start scripts and the binary raise that limit (BUN_RUNTIME_FLAGS in
 * scripts/runtime-flags.ts) so that an oversized URL reaches this check and gets a JSON answer.
 */
export const MAX_URL_BYTES = 8 * 1024

/** Probes and scrapes come from the platform, not from users: never rate limited. */
const UNLIMITED_PATHS = new Set(['/healthz', '/readyz', '/metrics'])

export interface AppDeps {
	auctions: AuctionService
	bids: BidService
	history: HistoryService
	auth: Auth
	metrics: Metrics
	log: Logger
	dependencies: Dependency[]
	/** The live role's hub; without it (ROLES without `live`) there is no `/live`. */
	live?: LiveHub
	/** Whether this process has the api role; without it only ops routes and `/live` answer. */
	api: boolean
	maxBodyBytes: number
	/** Per-IP limiter for requests without a verified token (with one, the bid route limits per bidder instead). */
	ipLimiter: RateLimiter
	/** Which proxies may say who the client is in X-Forwarded-For (TRUST_PROXY; behind a load balancer). */
	trustProxy: TrustProxy
	production: boolean
	/** False when /metrics has a port of its own (METRICS_PORT): here it is then a 404. */
	servesMetrics?: boolean
	version?: string
	/**
	 * Mints tokens for the web page's "sign in as" (`POST /dev/token`); given only with the generated
	 * development secret outside production. Without it the route does not exist.
	 */
	devSignIn?: DevSignIn
}

const jsonError = (status: number, body: unknown, headers: Record<string, string> = {}) =>
	new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...SECURITY_HEADERS, ...headers } })

/**
 * createApp assembles the HTTP API from its modules. Every failure leaves as
 * `{"error":{"code","message",…}}` with its status; unknown errors are 500 INTERNAL, logged,
 * with details hidden in production.
 */
export function createApp(deps: AppDeps) {
	const { log, maxBodyBytes } = deps
	const app = new Elysia({
		normalize: false,
		serve: {
			// Bun's own cap answers 413 with an empty body, even after `100 Continue`: gavel enforces
			// MAX_BODY_BYTES itself (Content-Length here, a chunked body while it streams in
			// readJsonBody), so Bun's must never come first. Nothing is buffered past our limit.
			maxRequestBodySize: Number.MAX_SAFE_INTEGER,
			// reusePort off (Elysia turns it on): a second gavel on the same port must fail, not split the traffic.
			reusePort: false,
		},
		websocket: deps.live?.websocket,
	})
		// On every answer, merged under a Response's own headers (a page sets its own CSP).
		.headers(SECURITY_HEADERS)
		.onRequest(({ request, server }) => {
			const length = request.headers.get('content-length')
			if (length !== null && Number(length) > maxBodyBytes) throw new PayloadTooLargeError(maxBodyBytes)
			const url = request.url
			if (url.length > MAX_URL_BYTES) throw new UriTooLongError(MAX_URL_BYTES)
			// A token that verified is limited per bidder where it is used; any other header is not a pass.
			const authorization = request.headers.get('authorization')
			if (authorization !== null && deps.auth.verified(authorization)) return
			const pathStart = url.indexOf('/', url.indexOf('//') + 2)
			const queryStart = url.indexOf('?', pathStart)
			if (UNLIMITED_PATHS.has(url.slice(pathStart, queryStart < 0 ? undefined : queryStart))) return
			const wait = deps.ipLimiter.take(clientAddress(request, server, deps.trustProxy))
			if (wait > 0) throw new RateLimitedError(wait)
		})
		.use(apiGate(deps.api))
		// Every body is read here (Elysia's own parsers never run): JSON only (415 otherwise), within
		// MAX_BODY_BYTES however it is framed.
		.onParse(async ({ request, contentType }) => {
			try {
				return await readJsonBody(request, contentType, maxBodyBytes)
			} catch (err) {
				throw err instanceof SyntaxError ? new ParseError() : err
			}
		})
		.onError(({ code, error, request }) => {
			// Elysia wraps what a parse hook throws (our 413 for a chunked body) in a ParseError.
			const cause = code === 'PARSE' ? error.cause : undefined
			const appError = error instanceof AppError ? error : cause instanceof AppError ? cause : null
			if (appError) {
				const headers: Record<string, string> =
					'retryAfterSeconds' in appError ? { 'retry-after': String(appError.retryAfterSeconds) } : {}
				return jsonError(appError.status, appError.toJSON(), headers)
			}
			switch (code) {
				case 'VALIDATION': {
					const first = error.all[0]
					const field = first && 'path' in first ? first.path.replace(/^\//, '').replaceAll('/', '.') : ''
					const message = first && 'schema' in first ? describeFailure(first) : 'invalid request'
					return jsonError(422, {
						error: { code: 'VALIDATION', message: field ? `${field}: ${message}` : message, field, in: error.type },
					})
				}
				case 'PARSE':
					return jsonError(400, { error: { code: 'BAD_REQUEST', message: 'the body is not valid JSON' } })
				case 'NOT_FOUND':
					return jsonError(404, { error: { code: 'NOT_FOUND', message: 'no such route' } })
			}
			// The details go to the log only (they can name hosts, queries or keys); the client gets a
			// reference to quote, in every environment.
			const ref = crypto.randomUUID()
			log.error({ err: error, ref, url: request.url, method: request.method }, 'unhandled error')
			return jsonError(500, { error: { code: 'INTERNAL', message: `internal error (ref ${ref})`, ref } })
		})
		.use(
			apiDocsModule({
				title: 'gavel',
				version: deps.version ?? '0.1.0',
				description:
					'Real-time auction bidding. Money is integer minor units (cents); times are Unix epoch milliseconds. ' +
					'Every refusal is `{"error":{"code","message",…}}` (the `Error` schema): branch on `code`; each operation ' +
					'lists the statuses it answers and the codes they carry. Creating auctions and bidding need ' +
					'`Authorization: Bearer <JWT>`; reading is public. Watch auctions live on the `/live` WebSocket.',
			}),
		)
		.use(opsModule({ metrics: deps.metrics, dependencies: deps.dependencies, log, servesMetrics: deps.servesMetrics }))
		.use(deps.live ? liveModule({ hub: deps.live, trustProxy: deps.trustProxy }) : new Elysia({ name: 'live-off' }))
		.use(auctionsModule({ auctions: deps.auctions, auth: deps.auth }))
		.use(bidsModule({ bids: deps.bids, auth: deps.auth }))
		.use(historyModule({ history: deps.history }))
	// The web page and its development sign-in are no API: added outside the chain, they stay out of
	// `App` (the typed client's routes) as they stay out of the OpenAPI document.
	app.use(webModule({ devSignIn: deps.devSignIn !== undefined }))
	if (deps.devSignIn) app.use(devSignInModule(deps.devSignIn))
	return app
}

/** Paths a process without the api role still serves. */
const NON_API_PATHS = new Set([...UNLIMITED_PATHS, '/live'])

/**
 * apiGate answers 404 for the HTTP API in a process without the api role (a closer or archiver,
 * or a live-only instance), so ROLES means what it says; with the role it adds nothing.
 */
function apiGate(api: boolean) {
	const gate = new Elysia({ name: 'api-gate' })
	if (api) return gate
	return gate.onRequest(({ request }) => {
		const url = request.url
		const pathStart = url.indexOf('/', url.indexOf('//') + 2)
		const queryStart = url.indexOf('?', pathStart)
		if (!NON_API_PATHS.has(url.slice(pathStart, queryStart < 0 ? undefined : queryStart)))
			throw new AppError('NOT_FOUND', 404, 'this instance does not serve the API (ROLES has no api)')
	})
}

/** The app's type, for the Eden treaty client. */
export type App = ReturnType<typeof createApp>
