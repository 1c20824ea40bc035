import { connect } from 'node:net'

export interface RawResponse {
	status: number
	headers: Record<string, string>
	body: string
}

/**
 * rawHttp writes an HTTP/1.1 request head by hand (what fetch will not send: `Expect:
 * 100-continue`, a declared length it never sends, a URL of any size) and reads every response
 * the server writes until it closes the connection or `waitMs` passes. Interim answers
 * (`100 Continue`) come first in the list. A body is sent only after `100 Continue`.
 */
export function rawHttp(url: string, head: string, { body, waitMs = 2_000 }: { body?: Uint8Array; waitMs?: number } = {}) {
	const { hostname, port } = new URL(url)
	return new Promise<RawResponse[]>((resolve, reject) => {
		const socket = connect(Number(port), hostname)
		let received = ''
		let sentBody = false
		const finish = () => {
			clearTimeout(timer)
			socket.destroy()
			resolve(parseResponses(received))
		}
		const timer = setTimeout(finish, waitMs)
		socket.on('connect', () => socket.write(head))
		socket.on('data', (chunk) => {
			received += chunk.toString('latin1')
			if (body && !sentBody && received.startsWith('HTTP/1.1 100')) {
				sentBody = true
				socket.write(body)
			}
			const responses = parseResponses(received)
			if (responses.some((r) => r.status >= 200 && r.body.length >= Number(r.headers['content-length'] ?? 0))) finish()
		})
		socket.on('error', (err) => (received ? finish() : reject(err)))
		socket.on('close', finish)
	})
}

function parseResponses(text: string): RawResponse[] {
	const responses: RawResponse[] = []
	let rest = text
	while (rest.startsWith('HTTP/')) {
		const end = rest.indexOf('\r\n\r\n')
		if (end < 0) break
		const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n')
		const headers = Object.fromEntries(
			lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
		)
		const length = Number(headers['content-length'] ?? 0)
		const body = rest.slice(end + 4, end + 4 + length)
		responses.push({ status: Number(statusLine.split(' ')[1]), headers, body })
		rest = rest.slice(end + 4 + length)
	}
	return responses
}
