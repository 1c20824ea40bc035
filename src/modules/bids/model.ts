import { t } from 'elysia'
import { Type as T } from '@sinclair/typebox'
import { AuctionModel, Money, Nullable } from '../auctions/model.ts'
import { BidPlacedSchema } from '../../events.ts'

export const BidModel = {
	place: t.Object(
		{
			amount: Money,
			maxAmount: t.Optional({ ...Money, description: 'hidden proxy-bidding ceiling, at least amount' }),
		},
		{ additionalProperties: false },
	),
	/** The 201 answer: the event (null when only a hidden maximum rose), the state right after, and who leads. */
	placed: T.Object({
		bid: Nullable(BidPlacedSchema),
		auction: AuctionModel.view,
		leading: T.Boolean({ description: 'whether this bidder leads now' }),
	}),
	idempotencyKey: t.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7E]+$' }),
	/**
	 * The header as documented. The handler checks it against `idempotencyKey` itself, so that a
	 * bad key is refused as `Idempotency-Key` (the header's name) rather than as a header schema field.
	 */
	idempotencyKeyHeader: t.String({
		description: '1 to 128 visible ASCII characters. A retry with the same key and bid gets the first answer again (`Idempotent-Replayed: true`)',
	}),
}
