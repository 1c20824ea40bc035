import { t } from 'elysia'
import { AuctionModel, Money } from '../auctions/model.ts'
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
	placed: t.Object({
		bid: t.Nullable(BidPlacedSchema),
		auction: AuctionModel.view,
		leading: t.Boolean(),
	}),
	idempotencyKey: t.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7E]+$' }),
}
