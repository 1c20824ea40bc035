import { Type as T, type Static } from '@sinclair/typebox'
import { settingsOf, type AuctionRecord } from './domain/auction.ts'

/**
 * Events are the one shape shared by the bus, WebSockets and the archive (docs/design.md §3).
 * `id` is a UUIDv7 and the dedup key everywhere; `seq` is dense per auction, 0 = created.
 */
const Money = T.Integer({ minimum: 0 })
const Millis = T.Integer({ minimum: 0 })
const Base = {
	id: T.String({ format: 'uuid', description: 'UUIDv7 event id, the dedup key' }),
	auction: T.String(),
	seq: T.Integer({ minimum: 0 }),
	at: Millis,
}
export const IncrementSchema = T.Union([
	T.Integer({ minimum: 1, maximum: 1_000_000_000_000, description: 'a fixed step in minor units' }),
	T.Array(T.Object({ from: T.Integer({ minimum: 0 }), step: T.Integer({ minimum: 1, maximum: 1_000_000_000_000 }) }, { additionalProperties: false }), {
		minItems: 1,
		maxItems: 32,
		description: 'a list of tiers {from, step}: from 0 up, sorted by from',
	}),
])

export const AuctionCreatedSchema = T.Object({
	...Base,
	type: T.Literal('auction.created'),
	title: T.String(),
	sellerId: T.String(),
	currency: T.String(),
	startingPrice: Money,
	increment: IncrementSchema,
	buyNowPrice: T.Union([Money, T.Null()]),
	softCloseMs: Millis,
	startsAt: Millis,
	endsAt: Millis,
	maxEndsAt: Millis,
	reserveMet: T.Boolean(),
})

export const BidPlacedSchema = T.Object({
	...Base,
	type: T.Literal('bid.placed'),
	bidder: T.String(),
	amount: Money,
	price: Money,
	leader: T.String(),
	proxy: T.Boolean(),
	endsAt: Millis,
	reserveMet: T.Boolean(),
})

export const AuctionClosedSchema = T.Object({
	...Base,
	type: T.Literal('auction.closed'),
	winner: T.Union([T.String(), T.Null()]),
	price: T.Union([Money, T.Null()]),
	reserveMet: T.Boolean(),
})

export const EventSchema = T.Union([AuctionCreatedSchema, BidPlacedSchema, AuctionClosedSchema])

export type AuctionCreated = Static<typeof AuctionCreatedSchema>
export type BidPlaced = Static<typeof BidPlacedSchema>
export type AuctionClosed = Static<typeof AuctionClosedSchema>
export type GavelEvent = Static<typeof EventSchema>

/** newEventId returns a UUIDv7: time-ordered, so archive inserts stay index-friendly. */
export const newEventId = (): string => Bun.randomUUIDv7()

export function auctionCreated(a: AuctionRecord, id: string = newEventId()): AuctionCreated {
	const { id: auction, createdAt, ...settings } = settingsOf(a)
	return { id, type: 'auction.created', auction, seq: 0, at: createdAt, ...settings, endsAt: a.endsAt, reserveMet: a.reserveMet }
}
