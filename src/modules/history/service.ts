import { AppError, NotFoundError, UnavailableError } from '../../errors.ts'
import type { Archive } from '../../ports/archive.ts'
import type { BidStore } from '../../ports/bid-store.ts'
import { decodeSeqCursor, encodeSeqCursor } from './model.ts'

export interface HistoryQuery {
	order: 'asc' | 'desc'
	cursor?: string
	limit: number
}

/**
 * createHistoryService answers bid history from the archive. An auction the archive has not
 * seen yet but the store knows (just created, its event still on the way) has an empty
 * history rather than a 404; one neither knows is a 404.
 */
export function createHistoryService({ archive, store }: { archive: Archive; store: BidStore }) {
	return {
		/** A page of bid.placed events as stored JSON, and the cursor for the next one. */
		async bids(auction: string, { order, cursor, limit }: HistoryQuery): Promise<{ items: string[]; nextCursor: string | null }> {
			const after = cursor === undefined ? undefined : decodeSeqCursor(cursor)
			let rows
			try {
				rows = await archive.bids(auction, { order, after, limit: limit + 1 })
			} catch (err) {
				if (err instanceof AppError) throw err
				throw new UnavailableError('the archive is not reachable right now', { cause: err })
			}
			if (rows === null) {
				if (!(await store.getAuction(auction))) throw new NotFoundError('auction')
				return { items: [], nextCursor: null }
			}
			const page = rows.slice(0, limit)
			const last = page[page.length - 1]
			return { items: page.map((r) => r.json), nextCursor: rows.length > limit && last ? encodeSeqCursor(last.seq) : null }
		},
	}
}

export type HistoryService = ReturnType<typeof createHistoryService>
