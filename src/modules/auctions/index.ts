import { Elysia, t } from 'elysia'
import type { Auth } from '../../auth/tokens.ts'
import { requireRole } from '../../auth/tokens.ts'
import { AuctionModel, queryInt } from './model.ts'
import type { AuctionService } from './service.ts'
import { rawJson } from '../raw-json.ts'
import type { GavelEvent } from '../../events.ts'

/** Auction routes: sellers create; anyone reads. */
export function auctionsModule({ auctions, auth }: { auctions: AuctionService; auth: Auth }) {
	return new Elysia({ name: 'auctions' })
		.post(
			'/auctions',
			async ({ body, request, set }) => {
				const principal = await auth.authenticate(request.headers.get('authorization'))
				requireRole(principal, 'seller')
				set.status = 201
				return auctions.create(body, principal)
			},
			{
				body: AuctionModel.create,
				parse: 'json', // JSON only (and the OpenAPI document says so)
				headers: t.Object({ authorization: t.Optional(t.String()) }),
				response: { 201: AuctionModel.view },
				detail: { summary: 'Create an auction (seller or admin token)' },
			},
		)
		.get(
			'/auctions',
			({ query }) =>
				auctions.list({
					status: query.status,
					cursor: query.cursor,
					limit: queryInt('limit', query.limit, { min: 1, max: 200, fallback: 50 }),
				}),
			{
				query: AuctionModel.listQuery,
				response: { 200: t.Object({ items: t.Array(AuctionModel.view), nextCursor: t.Nullable(t.String()) }) },
				detail: { summary: 'List auctions, newest first' },
			},
		)
		.get('/auctions/:id', ({ params }) => auctions.get(params.id), {
			params: AuctionModel.id,
			response: { 200: AuctionModel.view },
			detail: { summary: 'One auction with its live state' },
		})
		.get(
			'/auctions/:id/events',
			async ({ params, query }) => {
				const since = queryInt('since', query.since, { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 })
				const result = await auctions.eventsSince(params.id, since)
				if (result.reset) return { reset: true as const, auction: result.auction }
				// Events are stored as JSON; splice them in rather than parse and re-serialise.
				return rawJson<{ items: GavelEvent[]; seq: number }>(`{"items":[${result.items.join(',')}],"seq":${result.seq}}`)
			},
			{
				params: AuctionModel.id,
				query: t.Object({ since: t.Optional(t.String({ pattern: '^[0-9]{1,16}$', description: 'a seq: a whole number from 0' })) }, { additionalProperties: false }),
				detail: { summary: 'Recent events after seq `since` (recovery); `reset` when it is older than the kept window' },
			},
		)
}
