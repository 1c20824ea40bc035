import { t } from 'elysia'
import { Type as T } from '@sinclair/typebox'
import { MAX_AMOUNT, MAX_SOFT_CLOSE_MS } from '../../domain/auction.ts'
import { IncrementSchema } from '../../events.ts'
import { ValidationError } from '../../errors.ts'

const strict = { additionalProperties: false } as const
// Bodies use TypeBox's own Integer: Elysia's `t.Integer` also accepts numeric strings, and
// money in a body must be a JSON integer. Query numbers are digit strings read by `queryInt`.

/** Integer minor units: never fractional, negative, zero, unsafe or absurd. */
export const Money = T.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'integer minor units (cents)' })
export const EpochMs = T.Integer({ minimum: 0, maximum: 9_999_999_999_999, description: 'Unix epoch milliseconds' })
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
			status: t.Optional(t.Union([t.Literal('scheduled'), t.Literal('open'), t.Literal('closed')])),
			cursor: t.Optional(t.String({ maxLength: 200 })),
			limit: t.Optional(t.String({ pattern: '^[0-9]{1,6}$', description: '1 to 200, default 50' })),
		},
		strict,
	),
	view: t.Object({
		id: t.String(),
		title: t.String(),
		sellerId: t.String(),
		currency: t.String(),
		startingPrice: t.Integer(),
		increment: IncrementSchema,
		buyNowPrice: t.Nullable(t.Integer()),
		softCloseMs: t.Integer(),
		startsAt: t.Integer(),
		endsAt: t.Integer(),
		maxEndsAt: t.Integer(),
		createdAt: t.Integer(),
		status: t.Union([t.Literal('scheduled'), t.Literal('open'), t.Literal('closed')]),
		price: t.Nullable(t.Integer()),
		leader: t.Nullable(t.String()),
		bidCount: t.Integer(),
		seq: t.Integer(),
		reserveMet: t.Boolean(),
		winner: t.Nullable(t.String()),
	}),
}

/** queryInt reads an optional digits-only query value within bounds, naming the parameter when it is out of them. */
export function queryInt(name: string, text: string | undefined, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
	if (text === undefined) return fallback
	const value = Number(text)
	if (!Number.isSafeInteger(value) || value < min || value > max)
		throw new ValidationError(`${name}: must be a whole number from ${min} to ${max}`, { field: name })
	return value
}
