import { Elysia, t } from 'elysia'
import { Value } from '@sinclair/typebox/value'
import { ValidationError } from '../../errors.ts'
import type { Auth } from '../../auth/tokens.ts'
import { AuctionModel } from '../auctions/model.ts'
import { BidModel } from './model.ts'
import type { BidService } from './service.ts'
import { rawJson } from '../raw-json.ts'

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
			headers: t.Object({ authorization: t.Optional(t.String()), 'idempotency-key': t.Optional(t.String()) }),
			response: { 201: BidModel.placed },
			detail: {
				summary: 'Place a bid',
				description: 'Rules: see README "Auction rules". Send Idempotency-Key to make retries safe.',
			},
		},
	)
}
