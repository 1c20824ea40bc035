import { t } from 'elysia'
import { Type as T, type TSchema } from '@sinclair/typebox'
import { MAX_AMOUNT, MAX_SOFT_CLOSE_MS } from '../../domain/auction.ts'
import { EventSchema, IncrementSchema } from '../../events.ts'
import { ValidationError } from '../../errors.ts'

const strict = { additionalProperties: false } as const
// Bodies and answers use TypeBox's own Integer: Elysia's `t.Integer` also accepts numeric strings
// (and is documented as string-or-integer), and money is a JSON integer. Query numbers are digit
// strings read by `queryInt`.

/** Integer minor units: never fractional, negative, zero, unsafe or absurd. */
export const Money = T.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'integer minor units, e.g. cents' })
export const EpochMs = T.Integer({ minimum: 0, maximum: 9_999_999_999_999, description: 'Unix epoch milliseconds' })
/** A value or JSON null: documented as OpenAPI 3.1's `type: [X, 'null']`. */
export const Nullable = <S extends TSchema>(schema: S) => T.Union([schema, T.Null()])
const AuctionStatus = T.Union([T.Literal('scheduled'), T.Literal('open'), T.Literal('closed')])
export const AuctionId = t.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: '1–64 of A–Z a–z 0–9 _ -' })

export const AuctionModel = {
	id: t.Object({ id: AuctionId }, strict),
	create: t.Object(
		{
			id: t.Optional(AuctionId),
			title: t.String({ minLength: 1, maxLength: 200 }),
			startingPrice: Money,
			increment: IncrementSchema,
			endsAt: EpochMs,
			startsAt: t.Optional(EpochMs),
			reservePrice: t.Optional(Money),
			buyNowPrice: t.Optional(Money),
			softCloseMs: t.Optional(T.Integer({ minimum: 0, maximum: MAX_SOFT_CLOSE_MS })),
			maxEndsAt: t.Optional(EpochMs),
			currency: t.Optional(t.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' })),
		},
		strict,
	),
	listQuery: t.Object(
		{
			status: t.Optional(AuctionStatus),
			cursor: t.Optional(t.String({ maxLength: 200 })),
			limit: t.Optional(t.String({ pattern: '^[0-9]{1,6}$', description: '1 to 200, default 50' })),
		},
		strict,
	),
	/** An auction as every read answers it: settings and live state (never the reserve or a maximum). */
	view: T.Object({
		id: T.String(),
		title: T.String(),
		sellerId: T.String(),
		currency: T.String({ description: 'ISO 4217 code' }),
		startingPrice: Money,
		increment: IncrementSchema,
		buyNowPrice: Nullable(Money),
		softCloseMs: T.Integer({ minimum: 0, description: 'a bid this close to the end extends it to this long after the bid' }),
		startsAt: EpochMs,
		endsAt: { ...EpochMs, description: 'the current end, Unix epoch milliseconds (soft close moves it)' },
		maxEndsAt: { ...EpochMs, description: 'the latest the end can move to, Unix epoch milliseconds' },
		createdAt: EpochMs,
		status: AuctionStatus,
		price: Nullable({ ...Money, description: 'the current price, integer minor units; null before the first bid' }),
		leader: Nullable(T.String({ description: 'the leading bidder; null before the first bid' })),
		bidCount: T.Integer({ minimum: 0 }),
		seq: T.Integer({ minimum: 0, description: 'the seq of the last event: resume `/live` or `/events` from here' }),
		reserveMet: T.Boolean(),
		winner: Nullable(T.String({ description: 'the winner once closed with the reserve met; else null' })),
	}),
}

/** GET /auctions: a page, and the cursor of the next one (null on the last page). */
export const AuctionPage = T.Object({ items: T.Array(AuctionModel.view), nextCursor: Nullable(T.String()) })

/** GET /auctions/:id/events: the events after `since`, or the whole state when `since` is older than the kept window. */
export const EventsSince = T.Union([
	T.Object({ items: T.Array(EventSchema), seq: T.Integer({ minimum: 0, description: 'the seq of the last event' }) }),
	T.Object({ reset: T.Literal(true), auction: AuctionModel.view }),
])

/** queryInt reads an optional digits-only query value within bounds, naming the parameter when it is out of them. */
export function queryInt(name: string, text: string | undefined, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
	if (text === undefined) return fallback
	const value = Number(text)
	if (!Number.isSafeInteger(value) || value < min || value > max)
		throw new ValidationError(`${name}: must be a whole number from ${min} to ${max}`, { field: name })
	return value
}
