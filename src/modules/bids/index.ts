import { Elysia, t } from 'elysia'
import { withHeaders } from '@elysiajs/openapi'
import { Type as T } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ValidationError } from '../../errors.ts'
import type { Auth } from '../../auth/tokens.ts'
import { AuctionModel } from '../auctions/model.ts'
import { BidModel } from './model.ts'
import type { BidService } from './service.ts'
import { rawJson } from '../raw-json.ts'
import { errorResponses, Refusal } from '../error-responses.ts'

const JSON_HEADERS = { 'content-type': 'application/json' }
const REPLAYED_HEADERS = { 'content-type': 'application/json', 'idempotent-replayed': 'true' }

/** POST /auctions/:id/bids: the bidder comes from the verified token, never from the body. */
export function bidsModule({ bids, auth }: { bids: BidService; auth: Auth }) {
	return new Elysia({ name: 'bids' }).post(
		'/auctions/:id/bids',
		async ({ params, body, request }) => {
			const principal = await auth.authenticate(request.headers.get('authorization'))
			if (body.maxAmount !== undefined && body.maxAmount < body.amount)
				throw new ValidationError('maxAmount: must be at least amount', { field: 'maxAmount' })
			const idempotencyKey = request.headers.get('idempotency-key') ?? undefined
			if (idempotencyKey !== undefined && !Value.Check(BidModel.idempotencyKey, idempotencyKey))
				throw new ValidationError('Idempotency-Key: 1 to 128 visible ASCII characters', { field: 'Idempotency-Key' })
			const placed = await bids.place({
				auction: params.id,
				bidder: principal.sub,
				amount: body.amount,
				maxAmount: body.maxAmount,
				idempotencyKey,
			})
			// The store built the answer JSON; send its bytes as they are.
			return rawJson<typeof BidModel.placed.static>(placed.answer, {
				status: 201,
				headers: placed.replayed ? REPLAYED_HEADERS : JSON_HEADERS,
			})
		},
		{
			params: AuctionModel.id,
			body: BidModel.place,
			parse: 'json', // JSON only (and the OpenAPI document says so)
			// The token is read in the handler, not declared: the document says `security: bearer` instead.
			headers: t.Object({ 'idempotency-key': t.Optional(BidModel.idempotencyKeyHeader) }),
			response: {
				201: withHeaders(
					{ ...BidModel.placed, description: 'Placed (or a replay of the first answer to this `Idempotency-Key`)' },
					{ 'Idempotent-Replayed': T.Literal('true', { description: 'present when this is the stored answer to an earlier request with the same key' }) },
				),
				...errorResponses({
					400: Refusal.badJson,
					401: Refusal.noToken,
					403: '`OWN_AUCTION`: sellers cannot bid on their own auction',
					404: Refusal.noAuction,
					409:
						'`TOO_LOW`: below the current minimum (`minimum`); `CLOSED`: the auction has ended; ' +
						'`NOT_STARTED`: bidding opens at `startsAt`',
					413: Refusal.tooLarge,
					414: Refusal.urlTooLong,
					415: Refusal.notJson,
					422:
						Refusal.validation(
							'`amount` or `maxAmount` not a whole number of minor units from 1, `maxAmount` below `amount`, an unknown ' +
								'field, or an `Idempotency-Key` that is not 1 to 128 visible ASCII characters',
						) + '. `IDEMPOTENCY_KEY_REUSED`: this `Idempotency-Key` was used for a different bid',
					429: '`RATE_LIMITED`: too many bids from this bidder (or requests without a token from this address); retry after `Retry-After` seconds',
					503: `${Refusal.storeDown} (with the same \`Idempotency-Key\`). ${Refusal.outcomeUnknown}`,
				}),
			},
			detail: {
				summary: 'Place a bid',
				description: 'Rules: see README "Auction rules". Send Idempotency-Key to make retries safe.',
				operationId: 'placeBid',
				tags: ['bids'],
				security: [{ bearer: [] }],
			},
		},
	)
}
