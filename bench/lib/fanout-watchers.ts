/**
 * One client process of the fan-out bench: opens `count` watchers to `url`, prints
 * `{"ready":N}` once every one is subscribed, then records the receive time of each event
 * (wall clock, microsecond resolution: comparable with the parent's send times on the same
 * machine). On a line `stop` on stdin it writes the receipts to `out` as Float64 pairs
 * (amount, epoch ms), closes its sockets and exits.
 *
 *   bun bench/lib/fanout-watchers.ts <url> <count> <out file>
 */
export {}

const [url = '', countText = '100', out = ''] = Bun.argv.slice(2)
const count = Number(countText)
const now = () => performance.timeOrigin + performance.now()
let receipts = new Float64Array(1 << 16)
let used = 0
let subscribed = 0

/** amountOf slices `"amount":N` out of a frame (the same cheap read for both targets). */
function amountOf(text: string): number {
	const i = text.indexOf('"amount":')
	return i < 0 ? -1 : Number.parseInt(text.slice(i + 9, i + 25), 10)
}

const sockets: WebSocket[] = []
for (let i = 0; i < count; i++) {
	const ws = new WebSocket(url)
	ws.onmessage = (m) => {
		const t = now()
		const amount = amountOf(m.data as string)
		if (amount < 0) return void subscribed++
		if (used + 2 > receipts.length) {
			const bigger = new Float64Array(receipts.length * 2)
			bigger.set(receipts)
			receipts = bigger
		}
		receipts[used++] = amount
		receipts[used++] = t
	}
	sockets.push(ws)
	if (i % 250 === 249) await Bun.sleep(20) // let the handshakes through in waves
}
while (subscribed < count) await Bun.sleep(5)
console.log(JSON.stringify({ ready: count }))

for await (const line of console) {
	if (line.trim() !== 'stop') continue
	await Bun.write(out, receipts.subarray(0, used))
	let open = sockets.length
	for (const ws of sockets) {
		ws.onclose = () => void open--
		ws.close()
	}
	const deadline = Date.now() + 10_000
	while (open > 0 && Date.now() < deadline) await Bun.sleep(10)
	console.log(JSON.stringify({ written: used / 2 }))
	process.exit(0)
}
