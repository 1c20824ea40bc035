import { createAuctions, token, type Target } from './lib/gavel.ts'
import { progress, progressDone } from './lib/proc.ts'

export interface AtomicResult {
	bids: number
	concurrency: number
	accepted: number
	rejected: number
	finalPrice: number | null
	highestAccepted: number
	seqDense: boolean
	violations: number
	seconds: number
}

/**
 * The atomicity workload: `bids` bids from many bidders at once on ONE auction. Whatever the
 * interleaving, the final price must be the highest accepted bid and the accepted events must
 * carry seq 1..N with no gap or repeat; every deviation counts as a violation.
 */
export async function benchAtomic(target: Target, { bids = 10_000, concurrency = 200 } = {}): Promise<AtomicResult> {
	const [auction] = await createAuctions(target, 1, `atomic${Date.now().toString(36)}-`)
	const tokens = await Promise.all(Array.from({ length: concurrency }, (_, i) => token(target.secret, `atomic-${i}`)))
	const seqs: number[] = []
	const amounts: number[] = []
	let accepted = 0
	let rejected = 0
	let violations = 0
	let next = 0
	let sent = 0
	const started = performance.now()
	const ticker = setInterval(() => progress(`atomic: ${sent}/${bids} bids sent`), 500)
	await Promise.all(
		tokens.map(async (t) => {
			const headers = { authorization: `Bearer ${t}`, 'content-type': 'application/json' }
			while (next < bids) {
				const amount = 100 + next++ + Math.floor(Math.random() * 50)
				sent++
				const res = await fetch(`${target.url}/auctions/${auction}/bids`, { method: 'POST', headers, body: JSON.stringify({ amount }) })
				const body = (await res.json()) as { bid: { seq: number; amount: number } | null; error?: { code: string } }
				if (res.status === 201) {
					accepted++
					if (body.bid) {
						seqs.push(body.bid.seq)
						amounts.push(body.bid.amount)
					}
				} else if (res.status === 409 && body.error?.code === 'TOO_LOW') rejected++
				else violations++ // anything else is wrong under this load
			}
		}),
	)
	clearInterval(ticker)
	progressDone()
	const seconds = (performance.now() - started) / 1000
	const state = (await (await fetch(`${target.url}/auctions/${auction}`)).json()) as { price: number | null; seq: number }
	const sorted = seqs.toSorted((a, b) => a - b)
	const seqDense = sorted.every((s, i) => s === i + 1) && state.seq === sorted.length
	const highestAccepted = amounts.length ? Math.max(...amounts) : 0
	if (!seqDense) violations++
	if (state.price !== highestAccepted) violations++
	return { bids, concurrency, accepted, rejected, finalPrice: state.price, highestAccepted, seqDense, violations, seconds: Number(seconds.toFixed(2)) }
}
