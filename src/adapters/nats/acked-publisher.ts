import { createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node'
import { STATE_HEADER } from './subjects.ts'

/**
 * createAckedPublisher publishes to JetStream and waits for each PubAck, like `js.publish`,
 * at 40 % of its client CPU (measured: 8.4 vs 20.6 µs a message): one reply subscription for
 * all publishes (the reply subject ends in a counter, the pending map finds the waiter) and one
 * timer sweep for timeouts, instead of a request object, a token and a timer per message.
 *
 * When the connection comes back after a drop, everything still waiting for its PubAck is sent
 * again at once, in the original order and with the same msg ids: nats.js throws away what it
 * buffered while disconnected, and a PubAck lost with the connection never comes, so without
 * this each such event would wait out `timeoutMs` (and then arrive after newer ones). A copy
 * the stream already has is dropped by its duplicate window and answered with a PubAck.
 */
export function createAckedPublisher(nc: NatsConnection, { timeoutMs }: { timeoutMs: number }) {
	const inbox = createInbox()
	const keyAt = inbox.length + 1
	const pending = new Map<string, Waiter>()
	let next = 0
	let closed = false

	const send = (key: string, waiter: Waiter) => {
		const h = headers()
		h.set('Nats-Msg-Id', waiter.msgId)
		if (waiter.state) h.set(STATE_HEADER, waiter.state)
		nc.publish(waiter.subject, waiter.payload, { reply: `${inbox}.${key}`, headers: h })
	}

	const settle = (msg: Msg) => {
		const key = msg.subject.slice(keyAt)
		const waiter = pending.get(key)
		if (!waiter) return // timed out already; the retry carries the same Nats-Msg-Id
		pending.delete(key)
		// A status reply (503: no stream listens on the subject) instead of a PubAck.
		const code = msg.headers?.code ?? 0
		if (code >= 300) return waiter.reject(new Error(`JetStream answered ${code} ${msg.headers?.description ?? ''}`.trim()))
		try {
			const ack = msg.json<{ stream?: string; error?: { code: number; description: string } }>()
			if (ack.error) return waiter.reject(new Error(`JetStream refused the event: ${ack.error.code} ${ack.error.description}`))
			if (!ack.stream) return waiter.reject(new Error('invalid PubAck'))
			waiter.resolve()
		} catch (err) {
			waiter.reject(err as Error)
		}
	}
	const subscription = nc.subscribe(`${inbox}.*`, {
		callback: (err, msg) => {
			if (!err) settle(msg)
		},
	})

	const sweep = setInterval(() => {
		const now = Date.now()
		for (const [key, waiter] of pending)
			if (waiter.deadline <= now) {
				pending.delete(key)
				waiter.reject(new Error(`no PubAck within ${timeoutMs} ms`))
			}
	}, Math.min(500, timeoutMs))
	sweep.unref()

	/** Sends again what waits for a PubAck, oldest first (a Map iterates in insertion order). */
	const resend = () => {
		const deadline = Date.now() + timeoutMs
		for (const [key, waiter] of pending) {
			waiter.deadline = deadline
			try {
				send(key, waiter)
			} catch (err) {
				pending.delete(key)
				waiter.reject(err as Error)
			}
		}
	}
	// nats.js has sent the subscriptions (our reply inbox among them) again before it reports `reconnect`.
	;(async () => {
		for await (const status of nc.status()) {
			if (closed) return
			if (status.type === 'reconnect') resend()
		}
	})().catch(() => {})

	return {
		/** publish resolves when the stream has stored the event, and its commit's state record if given (or already had its id). */
		publish(subject: string, msgId: string, payload: string, state?: string): Promise<void> {
			return new Promise<void>((resolve, reject) => {
				const key = String(next++)
				const waiter: Waiter = { subject, msgId, payload, state, resolve, reject, deadline: Date.now() + timeoutMs }
				pending.set(key, waiter)
				try {
					send(key, waiter)
				} catch (err) {
					pending.delete(key)
					reject(err as Error)
				}
			})
		},
		/** How many publishes wait for their PubAck (tests and diagnostics). */
		pending: () => pending.size,
		close() {
			closed = true
			clearInterval(sweep)
			subscription.unsubscribe()
			for (const waiter of pending.values()) waiter.reject(new Error('publisher closed'))
			pending.clear()
		},
	}
}

/** A publish waiting for its PubAck, with what it takes to send it again. */
interface Waiter {
	subject: string
	msgId: string
	payload: string
	/** The commit's state record, sent in STATE_HEADER. */
	state: string | undefined
	resolve(): void
	reject(err: Error): void
	deadline: number
}
