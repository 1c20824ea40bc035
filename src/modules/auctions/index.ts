import { Elysia, t } from 'elysia'
import type { Auth } from '../../auth/tokens.ts'
import { requireRole } from '../../auth/tokens.ts'
import { AuctionModel, AuctionPage, EventsSince, queryInt } from './model.ts'
import type { AuctionService } from './service.ts'
import { rawJson } from '../raw-json.ts'
import type { GavelEvent } from '../../events.ts'
import { errorResponses, Refusal } from '../error-responses.ts'

/** Auction routes: sellers create; anyone reads. */
export function auctionsModule({ auctions, auth }: { auctions: AuctionService; auth: Auth }) {
	return new Elysia({ name: 'auctions' })
		.post(
			'/auctions',
			async ({ body, request, set }) => {
				// The token is read here rather than declared as a header: the document says `security: bearer`.
				const principal = await auth.authenticate(request.headers.get('authorization'))
				requireRole(principal, 'seller')
				set.status = 201
				return auctions.create(body, principal)
			},
			{
				body: AuctionModel.create,
				parse: 'json', // JSON only (and the OpenAPI document says so)
				response: {
					201: { ...AuctionModel.view, description: 'Created: the new auction' },
					...errorResponses({
						400: Refusal.badJson,
						401: Refusal.noToken,
						403: '`FORBIDDEN`: the token has neither the `seller` nor the `admin` role',
						404: Refusal.noApi,
						409: '`EXISTS`: an auction with this `id` exists, in the store or the archive (`id`)',
						413: Refusal.tooLarge,
						414: Refusal.urlTooLong,
						415: Refusal.notJson,
						422: Refusal.validation(
							'a field is missing, malformed, out of range or unknown, or the fields disagree: `endsAt` not after ' +
								'`startsAt` or not in the future, a reserve or buy-now price below the starting price, increment tiers ' +
								'not starting at 0 or not sorted',
						),
						429: Refusal.ipLimited,
						503: `${Refusal.storeDown}. \`OUTCOME_UNKNOWN\`: the store took it but the log did not hold it within \`DURABLE_WAIT_MS\`; read the auction to learn whether it exists`,
					}),
				},
				detail: {
					summary: 'Create an auction (seller or admin token)',
					operationId: 'createAuction',
					tags: ['auctions'],
					security: [{ bearer: [] }],
				},
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
				response: {
					200: { ...AuctionPage, description: 'A page of auctions; `nextCursor` fetches the next (null on the last page)' },
					...errorResponses({
						404: Refusal.noApi,
						414: Refusal.urlTooLong,
						422: Refusal.validation('`status` or `limit` (1 to 200) out of range, a `cursor` this API did not give out, or an unknown parameter'),
						429: Refusal.ipLimited,
						503: Refusal.storeDown,
					}),
				},
				detail: { summary: 'List auctions, newest first', operationId: 'listAuctions', tags: ['auctions'] },
			},
		)
		.get('/auctions/:id', ({ params }) => auctions.get(params.id), {
			params: AuctionModel.id,
			response: {
				200: { ...AuctionModel.view, description: 'The auction: settings and live state' },
				...errorResponses({
					404: Refusal.noAuction,
					414: Refusal.urlTooLong,
					422: Refusal.validation('the id is not 1–64 of A–Z a–z 0–9 _ -'),
					429: Refusal.ipLimited,
					503: Refusal.storeDown,
				}),
			},
			detail: { summary: 'One auction with its live state', operationId: 'getAuction', tags: ['auctions'] },
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
				response: {
					200: { ...EventsSince, description: 'The events after `since` and the last seq, or `reset` with the whole state' },
					...errorResponses({
						404: Refusal.noAuction,
						414: Refusal.urlTooLong,
						422: Refusal.validation('a malformed id, or `since` not a whole number from 0'),
						429: Refusal.ipLimited,
						503: Refusal.storeDown,
					}),
				},
				detail: {
					summary: 'Recent events after seq `since` (recovery); `reset` when it is older than the kept window',
					operationId: 'getAuctionEvents',
					tags: ['auctions'],
				},
			},
		)
}
