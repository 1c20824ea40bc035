import { t } from 'elysia'
import { Type as T } from '@sinclair/typebox'
import { Nullable } from '../auctions/model.ts'
import { BidPlacedSchema } from '../../events.ts'
import { ValidationError } from '../../errors.ts'

export const HistoryModel = {
	query: t.Object(
		{
			order: t.Optional(t.Union([t.Literal('desc'), t.Literal('asc')], { description: 'by seq; newest first by default' })),
			cursor: t.Optional(t.String({ maxLength: 64 })),
			limit: t.Optional(t.String({ pattern: '^[0-9]{1,6}$', description: '1 to 200, default 50' })),
		},
		{ additionalProperties: false },
	),
	page: T.Object({ items: T.Array(BidPlacedSchema), nextCursor: Nullable(T.String()) }),
}

/** A history cursor is the seq of the last item served, opaque to clients (base64url). */
export const encodeSeqCursor = (seq: number): string => Buffer.from(`seq:${seq}`).toString('base64url')

export function decodeSeqCursor(cursor: string): number {
	const match = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString())
	if (!match) throw new ValidationError('cursor: not a cursor this API gave out', { field: 'cursor' })
	return Number(match[1])
}
