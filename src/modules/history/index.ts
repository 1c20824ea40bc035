import { Elysia } from 'elysia'
import type { BidPlaced } from '../../events.ts'
import { AuctionModel, queryInt } from '../auctions/model.ts'
import { errorResponses, Refusal } from '../error-responses.ts'
import { rawJson } from '../raw-json.ts'
import { HistoryModel } from './model.ts'
import type { HistoryService } from './service.ts'

/** GET /auctions/:id/bids: the bid history, from the archive. */
export function historyModule({ history }: { history: HistoryService }) {
	return new Elysia({ name: 'history' }).get(
		'/auctions/:id/bids',
		async ({ params, query }) => {
			const page = await history.bids(params.id, {
				order: query.order ?? 'desc',
				cursor: query.cursor,
				limit: queryInt('limit', query.limit, { min: 1, max: 200, fallback: 50 }),
			})
			// Stored events are JSON already; splice them in rather than parse and re-serialise.
			const nextCursor = page.nextCursor === null ? 'null' : JSON.stringify(page.nextCursor)
			return rawJson<{ items: BidPlaced[]; nextCursor: string | null }>(`{"items":[${page.items.join(',')}],"nextCursor":${nextCursor}}`)
		},
		{
			params: AuctionModel.id,
			query: HistoryModel.query,
			response: {
				200: { ...HistoryModel.page, description: 'A page of `bid.placed` events; `nextCursor` fetches the next (null on the last page)' },
				...errorResponses({
					404: Refusal.noAuction,
					414: Refusal.urlTooLong,
					422: Refusal.validation('a malformed id, `order` or `limit` (1 to 200) out of range, a `cursor` this API did not give out, or an unknown parameter'),
					429: Refusal.ipLimited,
					503: '`UNAVAILABLE`: the archive (or the bid store) is not answering; retry',
				}),
			},
			detail: {
				summary: 'Bid history from the archive, by seq (newest first; ?order=asc for oldest first), cursor pages',
				operationId: 'listBids',
				tags: ['bids'],
			},
		},
	)
}
