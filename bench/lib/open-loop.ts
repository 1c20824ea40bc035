export {} // a module: top-level await
/**
 * An open-loop load: bids sent at a fixed rate whatever the answers take (wrk's closed loop
 * waits for each answer, so a slow server is sent less and its latency looks better than a
 * client's). In a process of its own, so its CPU is its own.
 *
 *   bun bench/lib/open-loop.ts <url>[,<url>…] <config.json>
 * config: { tokens: string[], auctions: string[], rate: number, seconds: number }
 * Every bid is accepted: each auction has two bidders taking turns, one step up each time, and
 * an auction whose last bid is still unanswered is not bid on (the next free one is). A bid's
 * latency runs from the moment it was due, not the moment it left: when no auction is free or
 * the process falls behind, the wait counts (no coordinated omission).
 * prints one JSON line: { sent, accepted, rejected, errors, late, latencyMs: { p50, p75, p90, p99, max } }
 */
const [urlList, configFile] = Bun.argv.slice(2)
const urls = urlList!.split(',')
const config = (await Bun.file(configFile!).json()) as { tokens: string[]; auctions: string[]; rate: number; seconds: number }
const latencies: number[] = []
const free: number[] = config.auctions.map((_, i) => i)
const turns = new Array<number>(config.auctions.length).fill(0)
let accepted = 0
let rejected = 0
let errors = 0
let sent = 0
let late = 0
const due: number[] = [] // bids that came due while no auction was free: their due times

const interval = 1000 / config.rate
const started = performance.now()
const end = started + config.seconds * 1000
let nextDue = started

function send(dueAt: number): void {
	const slot = free.shift()!
	const turn = ++turns[slot]!
	const auction = config.auctions[slot]!
	const url = urls[sent++ % urls.length]
	fetch(`${url}/auctions/${auction}/bids`, {
		method: 'POST',
		headers: { authorization: `Bearer ${config.tokens[slot * 2 + (turn % 2)]}`, 'content-type': 'application/json' },
		body: `{"amount":${100 + turn * 10}}`,
	})
		.then(async (res) => {
			await res.arrayBuffer()
			if (res.status === 201) accepted++
			else if (res.status === 409) rejected++
			else errors++
		})
		.catch(() => errors++)
		.finally(() => {
			latencies.push(performance.now() - dueAt)
			free.push(slot)
			const waiting = due.shift()
			if (waiting !== undefined) send(waiting)
		})
}

// A timer tick sends every bid that has come due since the last one (timers are coarser than the interval).
await new Promise<void>((resolve) => {
	const tick = () => {
		const now = performance.now()
		while (nextDue <= now && nextDue < end) {
			if (free.length > 0) send(nextDue)
			else {
				due.push(nextDue)
				late++
			}
			nextDue += interval
		}
		if (nextDue >= end) return resolve()
		setTimeout(tick, Math.max(0, Math.min(5, nextDue - performance.now())))
	}
	tick()
})
// The answers still out, and what waited for a free auction, up to a few seconds more.
const drainUntil = performance.now() + 10_000
while ((free.length < config.auctions.length || due.length > 0) && performance.now() < drainUntil) await Bun.sleep(10)
latencies.sort((a, b) => a - b)
const at = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2))
console.log(JSON.stringify({ sent, accepted, rejected, errors, late, latencyMs: { p50: at(0.5), p75: at(0.75), p90: at(0.9), p99: at(0.99), max: at(1) } }))
