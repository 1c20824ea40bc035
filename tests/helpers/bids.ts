import { auctionBody } from './gavel.ts'
import { signToken } from '../../src/auth/tokens.ts'
import { TEST_SECRET } from './gavel.ts'

/**
 * A bidding driver over HTTP against any gavel URL (in-process or a spawned one). Two bidders
 * take turns, each bid one increment over the price, so every bid is accepted and appends
 * exactly one `bid.placed`: n bids give seqs 1..n.
 */
export async function bidDriver(baseUrl: string, { secret = TEST_SECRET, bidders: names = ['bob', 'carol'] } = {}) {
	const token = (sub: string, roles: string[] = []) => signToken(secret, { sub, roles, ttlSeconds: 600 })
	const seller = await token('sam', ['seller'])
	const bidders = [await token(names[0]!), await token(names[1]!)]
	const prices = new Map<string, number>()
	const post = (path: string, body: unknown, bearer: string) =>
		fetch(`${baseUrl}${path}`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
			body: JSON.stringify(body),
		})

	return {
		/** Opens an auction (starting 1000, increment 100) and returns its id. */
		async create(overrides: Record<string, unknown> = {}): Promise<string> {
			const res = await post('/auctions', auctionBody(overrides), seller)
			if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`)
			const { id } = (await res.json()) as { id: string }
			prices.set(id, 900)
			return id
		},
		/** Places `n` accepted bids one after another; returns the last seq. */
		async bids(auction: string, n: number): Promise<number> {
			let seq = 0
			for (let i = 0; i < n; i++) {
				const amount = prices.get(auction)! + 100
				const res = await post(`/auctions/${auction}/bids`, { amount }, bidders[amount / 100 % 2]!)
				if (res.status !== 201) throw new Error(`bid failed: ${res.status} ${await res.text()}`)
				const body = (await res.json()) as { bid: { seq: number } | null }
				if (!body.bid) throw new Error('bid appended no event')
				seq = body.bid.seq
				prices.set(auction, amount)
			}
			return seq
		},
	}
}

export type BidDriver = Awaited<ReturnType<typeof bidDriver>>
