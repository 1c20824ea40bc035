import type { AuctionView } from '../domain/auction.ts'
import type { NewAuctionInput } from '../domain/new-auction.ts'
import type { BidPlaced } from '../events.ts'

/** A page of a list route: `{items, nextCursor}` (docs/design.md §4). */
export interface Page<T> {
	items: T[]
	nextCursor: string | null
}

/** The 201 answer to a bid. */
export interface PlacedBid {
	bid: BidPlaced | null
	auction: AuctionView
	leading: boolean
}

/** An error answer of the API, `{"error":{code, message, …}}`, or `UNREACHABLE` when gavel did not answer. */
export class ApiError extends Error {
	override name = 'ApiError'
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly details: Record<string, unknown> = {},
		/** From `Retry-After`, on a 429. */
		readonly retryAfterSeconds: number | null = null,
	) {
		super(message)
	}

	/** The field a 422 or a 409 `EXISTS` names. */
	get field(): string | null {
		if (this.code === 'EXISTS') return 'id'
		return typeof this.details.field === 'string' && this.details.field !== '' ? this.details.field : null
	}
}

interface RequestOptions {
	body?: unknown
	token?: string
	idempotencyKey?: string
}

/** request calls gavel on this page's own origin: JSON in and out, every refusal an ApiError. */
async function request<T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
	const headers: Record<string, string> = {}
	if (options.body !== undefined) headers['content-type'] = 'application/json'
	if (options.token) headers.authorization = `Bearer ${options.token}`
	if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey
	let res: Response
	try {
		res = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) })
	} catch {
		throw new ApiError(0, 'UNREACHABLE', 'gavel did not answer: check the connection and try again')
	}
	const text = await res.text()
	let value: unknown = null
	try {
		value = text === '' ? null : JSON.parse(text)
	} catch {
		// not JSON: described below by the status alone
	}
	if (res.ok) return value as T
	const { code, message, ...details } = ((value as { error?: Record<string, unknown> } | null)?.error ?? {}) as Record<string, unknown>
	const retryAfter = Number(res.headers.get('retry-after'))
	throw new ApiError(
		res.status,
		typeof code === 'string' ? code : 'HTTP_ERROR',
		typeof message === 'string' ? message : `gavel answered ${res.status}`,
		details,
		Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
	)
}

const auctionPath = (id: string) => `/auctions/${encodeURIComponent(id)}`

export const api = {
	listAuctions: (status: AuctionView['status'], limit: number) => request<Page<AuctionView>>('GET', `/auctions?status=${status}&limit=${limit}`),
	auction: (id: string) => request<AuctionView>('GET', auctionPath(id)),
	/** Bid history, newest first. */
	bids: (id: string, limit: number, cursor: string | null = null) =>
		request<Page<BidPlaced>>('GET', `${auctionPath(id)}/bids?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`),
	placeBid: (id: string, bid: { amount: number; maxAmount?: number }, token: string, idempotencyKey: string) =>
		request<PlacedBid>('POST', `${auctionPath(id)}/bids`, { body: bid, token, idempotencyKey }),
	/** Fields left out are named by the API's 422, in its own words. */
	createAuction: (auction: Partial<NewAuctionInput>, token: string) => request<AuctionView>('POST', '/auctions', { body: auction, token }),
	devToken: (sub: string, seller: boolean) => request<{ token: string }>('POST', '/dev/token', { body: { sub, seller } }),
}

/** newIdempotencyKey names one bid so that sending it again places it once (crypto.randomUUID needs https; this does not). */
export function newIdempotencyKey(): string {
	const bytes = crypto.getRandomValues(new Uint8Array(16))
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
