import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a real service, to take it away and give it back without touching
 * the service itself: `close()` drops every connection and stops listening (clients get
 * "connection refused"), `open()` listens again on the same port.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
	const sockets = new Set<Socket>()
	let server: Server | null = null
	let port = 0

	const listen = () =>
		new Promise<void>((resolve, reject) => {
			const s = createServer((client) => {
				const upstream = connect(target.port, target.host)
				for (const socket of [client, upstream]) {
					sockets.add(socket)
					socket.on('close', () => sockets.delete(socket))
					socket.on('error', () => {
						client.destroy()
						upstream.destroy()
					})
				}
				client.pipe(upstream)
				upstream.pipe(client)
			})
			s.once('error', reject)
			s.listen(port, '127.0.0.1', () => {
				port = (s.address() as { port: number }).port
				server = s
				resolve()
			})
		})
	await listen()

	return {
		get port() {
			return port
		},
		async close() {
			const s = server
			server = null
			for (const socket of sockets) socket.destroy()
			if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
		},
		open: listen,
	}
}
