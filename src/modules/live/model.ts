import { Type as T, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { AuctionView } from '../../domain/auction.ts'
import type { GavelEvent } from '../../events.ts'
import { AppError, BadFrameError, UnknownOpError } from '../../errors.ts'
import { AuctionId } from '../auctions/model.ts'

const strict = { additionalProperties: false } as const
const Since = T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'the last seq the client has' })

/** What a client may send on `/live` (docs/design.md §5): one JSON object per text frame, `op` discriminates. */
export const LiveModel = {
	subscribe: T.Object({ op: T.Literal('subscribe'), auction: AuctionId, since: T.Optional(Since) }, strict),
	unsubscribe: T.Object({ op: T.Literal('unsubscribe'), auction: AuctionId }, strict),
}

export type SubscribeOp = Static<typeof LiveModel.subscribe>
export type UnsubscribeOp = Static<typeof LiveModel.unsubscribe>
export type ClientOp = SubscribeOp | UnsubscribeOp

/**
 * Server frames. Control frames carry `type` like events do, so one switch on `type` reads the
 * stream: events (`bid.placed`, `auction.created`, `auction.closed`) are the stored JSON, unchanged.
 */
export interface SubscribedFrame {
	type: 'subscribed'
	auction: string
	/** The state's seq: the replayed events end here and live ones continue after it. */
	seq: number
	state: AuctionView
}
/** `since` left the kept window (or was never handed out): start over from `state`. */
export interface ResetFrame {
	type: 'reset'
	auction: string
	seq: number
	state: AuctionView
}
export interface UnsubscribedFrame {
	type: 'unsubscribed'
	auction: string
}
export interface ErrorFrame {
	type: 'error'
	code: LiveErrorCode
	message: string
	/** The auction the failed op named, when there was one. */
	auction?: string
	[detail: string]: unknown
}
export type LiveErrorCode = 'BAD_FRAME' | 'UNKNOWN_OP' | 'NOT_FOUND' | 'TOO_MANY_SUBSCRIPTIONS' | 'RATE_LIMITED' | 'UNAVAILABLE'
export type ControlFrame = SubscribedFrame | ResetFrame | UnsubscribedFrame | ErrorFrame
export type LiveFrame = ControlFrame | GavelEvent

/** Close codes (RFC 6455 §7.4: 1000–2999 are the protocol's, 4000–4999 are for applications). */
export const CloseCode = {
	/** The server is shutting down: reconnect (to another instance) with `since`. */
	GOING_AWAY: 1001,
	/** A client frame over LIVE_MAX_FRAME_BYTES (Bun closes the socket itself). */
	TOO_BIG: 1009,
	/** The send buffer went over LIVE_SEND_BUFFER_BYTES: reconnect with `since`, nothing is lost. */
	SLOW_CONSUMER: 4008,
} as const

/** `/live` asked for without a WebSocket handshake. */
export class UpgradeRequiredError extends AppError {
	constructor() {
		super('UPGRADE_REQUIRED', 426, '/live is a WebSocket endpoint; connect with a WebSocket client')
	}
}

/** The client address has LIVE_MAX_SOCKETS_PER_IP sockets open: refused before the upgrade. */
export class TooManyConnectionsError extends AppError {
	constructor(limit: number) {
		super('TOO_MANY_CONNECTIONS', 429, `at most ${limit} WebSockets per client address; close one first`, { limit })
	}
}

/** The Bun topic of one auction; every live watcher of it is subscribed to exactly this. */
export const auctionTopic = (auction: string) => `auction:${auction}`

/** errorFrame renders an AppError as the one error shape of the WebSocket (STYLE: same classes as HTTP). */
export function errorFrame(err: AppError, auction?: string): string {
	const frame: Record<string, unknown> = { type: 'error', code: err.code, message: err.message, ...err.details }
	if (auction !== undefined) frame.auction = auction
	return JSON.stringify(frame)
}

/** The frame that starts a sync: the state at `seq`; `reset` when the events after `since` are not all kept. */
export const headFrame = (type: 'subscribed' | 'reset', auction: string, state: AuctionView) =>
	`{"type":"${type}","auction":"${auction}","seq":${state.seq},"state":${JSON.stringify(state)}}`

/**
 * parseClientOp reads one client frame; an AppError says why it is not an op (the socket stays
 * open). Client frames are rare and small, so parsing them is off the fan-out path.
 */
export function parseClientOp(message: string | Uint8Array): ClientOp | AppError {
	if (typeof message !== 'string') return new BadFrameError('send ops as JSON in text frames')
	let value: unknown
	try {
		value = JSON.parse(message)
	} catch {
		return new BadFrameError('the frame is not valid JSON')
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value))
		return new BadFrameError('expected a JSON object like {"op":"subscribe","auction":"a1"}')
	const op = (value as { op?: unknown }).op
	if (typeof op !== 'string') return new BadFrameError('op: expected a string')
	const schema = op === 'subscribe' ? LiveModel.subscribe : op === 'unsubscribe' ? LiveModel.unsubscribe : null
	if (schema === null) return new UnknownOpError(op)
	if (Value.Check(schema, value)) return value as ClientOp
	const first = Value.Errors(schema, value).First()
	const field = first?.path.replace(/^\//, '') || 'frame'
	return new BadFrameError(`${field}: ${first?.message ?? 'invalid'}`)
}

/** parseLiveQuery reads the `/live?auction=a1&since=7` shortcut: null when there is none. */
export function parseLiveQuery(query: Record<string, string | undefined>): SubscribeOp | AppError | null {
	const { auction, since } = query
	if (auction === undefined) return since === undefined ? null : new BadFrameError('since: needs auction as well')
	if (since !== undefined && !/^[0-9]{1,16}$/.test(since)) return new BadFrameError('since: expected a non-negative integer')
	const op = { op: 'subscribe' as const, auction, ...(since === undefined ? {} : { since: Number(since) }) }
	if (Value.Check(LiveModel.subscribe, op)) return op
	return new BadFrameError('auction: expected 1–64 of A–Z a–z 0–9 _ -')
}
