/**
 * The fan-out control of docs/design.md §9: a bare Bun.serve that broadcasts each posted bid to one
 * topic (no Redis, no NATS, no gavel). `bench/fanout-quick.ts` starts it as a child process and
 * compares gavel's publish-to-receive latency with this one's. Prints its port on stdout.
 */
const server = Bun.serve({
	hostname: '127.0.0.1',
	port: 0,
	fetch(req, srv) {
		if (new URL(req.url).pathname === '/live') return srv.upgrade(req) ? undefined : new Response('upgrade', { status: 426 })
		return req.text().then((body) => {
			srv.publish('auction', body)
			return new Response(null, { status: 201 })
		})
	},
	websocket: {
		open: (ws) => void (ws.subscribe('auction'), ws.send('{"type":"subscribed"}')),
		message() {},
		perMessageDeflate: false,
	},
})
console.log(JSON.stringify({ port: server.port }))
