import { treaty, type Treaty } from '@elysiajs/eden'
import type { App } from '../app.ts'

export type { App }
export type { AuctionView } from '../domain/auction.ts'
export type { GavelEvent, BidPlaced, AuctionCreated, AuctionClosed } from '../events.ts'
export type { LiveFrame, SubscribedFrame, ResetFrame, ErrorFrame, LiveErrorCode } from '../modules/live/model.ts'
export {
	watch,
	connectLive,
	liveUrl,
	WatchError,
	type WatchOptions,
	type AuctionWatchOptions,
	type LiveConnection,
	type LiveConnectionOptions,
	type Watcher,
	type WatchStatus,
	type WatchSocket,
	type WatchSocketConstructor,
} from './watch.ts'

export interface ClientOptions {
	/** Bearer token (JWT); needed to create auctions and to bid. */
	token?: string
	/** Extra headers sent with every request. */
	headers?: Record<string, string>
	fetch?: typeof fetch
}

/**
 * createClient returns a fully typed Eden treaty client for gavel's HTTP API:
 * `client.auctions.post({...})`, `client.auctions({ id }).bids.post({ amount })`, …
 * Every call resolves to `{ data, error, status }`; `unwrap` turns that into a value or a throw.
 */
export function createClient(baseUrl: string, options: ClientOptions = {}): GavelClient {
	const headers: Record<string, string> = { ...options.headers }
	if (options.token) headers.authorization = `Bearer ${options.token}`
	return treaty<App>(baseUrl, { headers, fetcher: options.fetch })
}

/** Named, not inferred: the published declarations must not point into Eden's private chunk files. */
export type GavelClient = Treaty.Create<App>

/** GavelApiError is an API error answer: `code` as in the API (`TOO_LOW`, `CLOSED`…), its HTTP status and details. */
export class GavelApiError extends Error {
	override name = 'GavelApiError'
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly details: Record<string, unknown>,
	) {
		super(message)
	}
}

interface TreatyResult<T> {
	data: T | null
	error: { status: unknown; value: unknown } | null
}

/** unwrap returns `data` or throws a GavelApiError built from the `{"error":{…}}` body. */
export async function unwrap<T>(call: Promise<TreatyResult<T>> | TreatyResult<T>): Promise<T> {
	const { data, error } = await call
	if (!error) return data as T
	// Eden hands a failed fetch over as status 503 with the Error as the value.
	if (error.value instanceof Error) throw new GavelApiError(0, 'UNREACHABLE', `gavel did not answer: ${error.value.message}`, {})
	const status = typeof error.status === 'number' ? error.status : 0
	const body = (error.value as { error?: { code?: string; message?: string } } | null)?.error
	const { code = 'HTTP_ERROR', message = `request failed with status ${status}`, ...details } = body ?? {}
	throw new GavelApiError(status, code, message, details)
}
