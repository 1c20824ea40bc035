/**
 * Opens N WebSockets to a URL and keeps them idle until killed (a child of bench/live-memory.ts,
 * so the clients' memory is not the server's). Prints `{"open":N}` once all are subscribed.
 */
export {}

const [url = '', count = '1000'] = Bun.argv.slice(2)
const n = Number(count)
let ready = 0
const sockets: WebSocket[] = []
for (let i = 0; i < n; i++) {
	const ws = new WebSocket(url)
	ws.onmessage = () => {
		ready++
		ws.onmessage = null // the first frame is the subscription's answer; nothing else is expected
	}
	sockets.push(ws)
	if (i % 250 === 249) await Bun.sleep(20)
}
while (ready < n) await Bun.sleep(20)
console.log(JSON.stringify({ open: sockets.length }))
setInterval(() => {}, 1 << 30)
