export {} // a module: top-level await
/**
 * A fallback load generator for machines without wrk: `connections` concurrent keep-alive
 * fetch loops posting bids for `seconds`, in a process of its own. It costs far more client
 * CPU than wrk, so its figures understate gavel; the bench says which generator ran.
 *
 *   bun bench/lib/fetch-load.ts <url>[,<url>…] <config.json>
 * Several URLs (instances of one gavel): the connections are split into N even blocks, one per
 * URL (each block has both the climbing and the dipping connections).
 * config: { tokens: string[], auctions: string[], connections: number, seconds: number }
 * prints one JSON line: { requests, errors, latencyMs: { p50, p75, p90, p99, max } }
 */
const [urlList, configFile] = Bun.argv.slice(2)
const urls = urlList!.split(',')
const config = (await Bun.file(configFile!).json()) as { tokens: string[]; auctions: string[]; connections: number; seconds: number; acceptAll?: boolean }
const latencies: number[] = []
let errors = 0
let counter = 0
const deadline = performance.now() + config.seconds * 1000
await Promise.all(
	Array.from({ length: config.connections }, async (_, c) => {
		const url = urls[Math.floor((c * urls.length) / config.connections)]
		for (let turn = 1; performance.now() < deadline; turn++) {
			counter++
			// All accepted: the connection's own auction, its two bidders in turn, one step up each time.
			// Otherwise a global counter: amounts climb, and a random dip makes a share TOO_LOW, as with wrk.
			const auction = config.acceptAll ? config.auctions[c]! : config.auctions[counter % config.auctions.length]!
			const amount = config.acceptAll ? 100 + turn * 10 : 100 + counter * 2 + Math.floor(Math.random() * 41) - (c % 2) * Math.floor(Math.random() * 120)
			const bidder = config.acceptAll ? config.tokens[c * 2 + (turn % 2)] : config.tokens[counter % config.tokens.length]
			const started = performance.now()
			try {
				const res = await fetch(`${url}/auctions/${auction}/bids`, {
					method: 'POST',
					headers: { authorization: `Bearer ${bidder}`, 'content-type': 'application/json' },
					body: `{"amount":${amount}}`,
				})
				await res.arrayBuffer()
				if (res.status !== 201 && res.status !== 409) errors++
			} catch {
				errors++
			}
			latencies.push(performance.now() - started)
		}
	}),
)
latencies.sort((a, b) => a - b)
const at = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2))
console.log(JSON.stringify({ requests: latencies.length, errors, latencyMs: { p50: at(0.5), p75: at(0.75), p90: at(0.9), p99: at(0.99), max: at(1) } }))
