/**
 * AppError is every failure a client can cause or see: a stable upper-case `code` to branch
 * on, the HTTP `status` it maps to, and `details` merged into the error body
 * (`{"error":{"code","message",…details}}`).
 */
export class AppError extends Error {
	readonly code: string
	readonly status: number
	readonly details: Record<string, unknown>

	constructor(code: string, status: number, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
		// A client's mistake needs no stack: capturing one costs more than deciding the bid.
		const limit = Error.stackTraceLimit
		Error.stackTraceLimit = 0
		super(message, options)
		Error.stackTraceLimit = limit
		this.name = 'AppError'
		this.code = code
		this.status = status
		this.details = details
	}

	toJSON() {
		return { error: { code: this.code, message: this.message, ...this.details } }
	}
}

export class NotFoundError extends AppError {
	constructor(what: string) {
		super('NOT_FOUND', 404, `${what} not found`)
	}
}

export class NotStartedError extends AppError {
	constructor(startsAt: number) {
		super('NOT_STARTED', 409, 'the auction has not started yet', { startsAt })
	}
}

export class ClosedError extends AppError {
	constructor() {
		super('CLOSED', 409, 'the auction is closed')
	}
}

export class OwnAuctionError extends AppError {
	constructor() {
		super('OWN_AUCTION', 403, 'sellers cannot bid on their own auction')
	}
}

export class TooLowError extends AppError {
	constructor(minimum: number) {
		super('TOO_LOW', 409, `the bid must be at least ${minimum}`, { minimum })
	}
}

export class ExistsError extends AppError {
	constructor(id: string) {
		super('EXISTS', 409, `auction ${id} already exists`, { id })
	}
}

export class IdempotencyKeyReusedError extends AppError {
	constructor() {
		super('IDEMPOTENCY_KEY_REUSED', 422, 'this Idempotency-Key was already used for a different bid')
	}
}

export class ValidationError extends AppError {
	constructor(message: string, details: Record<string, unknown> = {}) {
		super('VALIDATION', 422, message, details)
	}
}

export class UnauthorizedError extends AppError {
	constructor(message = 'a valid bearer token is required', options?: ErrorOptions) {
		super('UNAUTHORIZED', 401, message, {}, options)
	}
}

export class ForbiddenError extends AppError {
	constructor(message: string) {
		super('FORBIDDEN', 403, message)
	}
}

export class RateLimitedError extends AppError {
	constructor(readonly retryAfterSeconds: number) {
		super('RATE_LIMITED', 429, 'too many bids, slow down', { retryAfter: retryAfterSeconds })
	}
}

export class PayloadTooLargeError extends AppError {
	constructor(limit: number) {
		super('PAYLOAD_TOO_LARGE', 413, `the request body is larger than ${limit} bytes`, { limit })
	}
}

export class UnsupportedMediaTypeError extends AppError {
	constructor(got: string) {
		super('UNSUPPORTED_MEDIA_TYPE', 415, `send the body as JSON with content-type: application/json (got ${got ? JSON.stringify(got.slice(0, 64)) : 'none'})`, {
			expected: 'application/json',
		})
	}
}

export class UriTooLongError extends AppError {
	constructor(limit: number) {
		super('URI_TOO_LONG', 414, `the URL is longer than ${limit} bytes`, { limit })
	}
}

/**
 * OutcomeUnknownError: the store took the change, but it could not be made durable in the log in
 * time (docs/design.md §6). Retrying with the same Idempotency-Key tells the outcome (a replay of
 * the answer), and never places it twice; repair completes what the bus still holds.
 */
export class OutcomeUnknownError extends AppError {
	readonly retryAfterSeconds = 1
	constructor(what: string, options?: ErrorOptions & { retry?: string }) {
		const retry = options?.retry ?? 'retry with the same Idempotency-Key to learn its outcome'
		super('OUTCOME_UNKNOWN', 503, `${what} was taken but could not be made durable in time; ${retry}`, { retryAfter: 1 }, options)
	}
}

/** The store is being rebuilt from the log and does not have this auction back yet: retry shortly. */
export class RebuildingError extends AppError {
	readonly retryAfterSeconds = 1
	constructor() {
		super('UNAVAILABLE', 503, 'the bid store is being rebuilt from the log; retry in a moment (with the same Idempotency-Key for a bid)', { retryAfter: 1 })
	}
}

export class UnavailableError extends AppError {
	constructor(message: string, options?: ErrorOptions) {
		super('UNAVAILABLE', 503, message, {}, options)
	}
}

/** A WebSocket frame that is not a JSON client op of the right shape (docs/design.md §5). */
export class BadFrameError extends AppError {
	constructor(message: string) {
		super('BAD_FRAME', 400, message)
	}
}

export class UnknownOpError extends AppError {
	constructor(op: string) {
		super('UNKNOWN_OP', 400, `unknown op ${JSON.stringify(op.slice(0, 32))}; use "subscribe" or "unsubscribe"`)
	}
}

export class TooManySubscriptionsError extends AppError {
	constructor(limit: number) {
		super('TOO_MANY_SUBSCRIPTIONS', 429, `a connection may watch at most ${limit} auctions; unsubscribe first`, { limit })
	}
}

/**
 * StartupError is a dependency gavel cannot reach when it starts, or one that answers but refuses
 * what gavel needs of it (`refused`: e.g. a replicated stream on a NATS without a cluster). The
 * CLI prints it in one line; `url` is one URL or a list of servers, passwords hidden.
 */
export class StartupError extends Error {
	override name = 'StartupError'
	/** The service and where it was looked for (passwords hidden), and why it failed: for "waiting for …" lines. */
	readonly service: string
	readonly where: string
	readonly why: string
	constructor(service: string, url: string | readonly string[], options: ErrorOptions & { refused?: boolean }) {
		const where = (typeof url === 'string' ? [url] : url).map(redactUrl).join(', ')
		const why = String((options.cause as Error)?.message ?? options.cause)
		super(options.refused ? `${service} at ${where} refused gavel's setup: ${why}` : `cannot reach ${service} at ${where}: ${why}`, options)
		this.service = service
		this.where = where
		this.why = why
	}
}

/** redactUrl hides a URL's password, for messages and logs. */
export function redactUrl(url: string): string {
	try {
		const u = new URL(url)
		if (u.password) u.password = '***'
		return u.toString()
	} catch {
		return '(an invalid URL)'
	}
}
