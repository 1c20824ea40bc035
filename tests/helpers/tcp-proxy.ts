import type { Socket, TCPSocketListener } from 'bun'

/**
 * A loopback TCP proxy for network trouble on demand: `drop()` cuts every open connection
 * (the client sees an abnormal close), `refuse(true)` turns new connections away until
 * `refuse(false)`. Bytes pass through unchanged.
 */
export interface TcpProxy {
	url: string
	drop(): void
	refuse(on: boolean): void
	stop(): void
}

export function startTcpProxy(targetPort: number): TcpProxy {
	const pairs = new Set<{ client: Socket<Pipe>; upstream?: Socket }>()
	let refusing = false
	interface Pipe {
		upstream?: Socket
		queued: Uint8Array[]
		pair?: { client: Socket<Pipe>; upstream?: Socket }
	}
	const listener: TCPSocketListener<Pipe> = Bun.listen<Pipe>({
		hostname: '127.0.0.1',
		port: 0,
		socket: {
			open(client) {
				client.data = { queued: [] }
				if (refusing) return void client.end()
				const pair: { client: Socket<Pipe>; upstream?: Socket } = { client }
				client.data.pair = pair
				pairs.add(pair)
				Bun.connect({
					hostname: '127.0.0.1',
					port: targetPort,
					socket: {
						data: (_, bytes) => void client.write(bytes),
						close: () => void client.end(),
					},
				}).then(
					(upstream) => {
						pair.upstream = upstream
						client.data.upstream = upstream
						for (const bytes of client.data.queued) upstream.write(bytes)
						client.data.queued = []
					},
					() => client.end(),
				)
			},
			data(client, bytes) {
				if (client.data.upstream) client.data.upstream.write(bytes)
				else client.data.queued.push(new Uint8Array(bytes))
			},
			close(client) {
				client.data.upstream?.end()
				if (client.data.pair) pairs.delete(client.data.pair)
			},
		},
	})
	return {
		url: `http://127.0.0.1:${listener.port}`,
		drop() {
			for (const { client, upstream } of pairs) {
				client.terminate()
				upstream?.terminate()
			}
			pairs.clear()
		},
		refuse(on) {
			refusing = on
		},
		stop() {
			this.drop()
			listener.stop(true)
		},
	}
}
