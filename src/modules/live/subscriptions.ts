import { TooManySubscriptionsError, type AppError } from '../../errors.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { LiveLimits } from './hub.ts'
import type { ClientOp, SubscribeOp } from './model.ts'
import type { LiveSocket, Sockets } from './sockets.ts'
import type { Syncs } from './sync.ts'
import type { Topics } from './topics.ts'

export interface SubscriptionsDeps {
	metrics: Metrics
	limits: Pick<LiveLimits, 'maxSubscriptions'>
	sockets: Pick<Sockets, 'send' | 'sendError'>
	topics: Pick<Topics, 'get' | 'acquire' | 'release'>
	syncs: Pick<Syncs, 'enqueue' | 'resubscribe' | 'leave'>
}

export type Subscriptions = ReturnType<typeof createSubscriptions>

/**
 * createSubscriptions answers a socket's ops: the auctions it watches (`LiveConnection.subs`, at
 * most LIVE_MAX_SUBSCRIPTIONS), each one counted on its auction's topic from the subscribe,
 * through its sync, until the unsubscribe or the close; the last one here lets the bus go.
 */
export function createSubscriptions({ metrics, limits, sockets, topics, syncs }: SubscriptionsDeps) {
	const subscribe = (ws: LiveSocket, { auction, since }: SubscribeOp) => {
		const subs = (ws.data.subs ??= [])
		if (subs.includes(auction)) return syncs.resubscribe(ws, topics.get(auction)!, since)
		if (subs.length >= limits.maxSubscriptions) return sockets.sendError(ws, new TooManySubscriptionsError(limits.maxSubscriptions), auction)
		subs.push(auction)
		metrics.wsSubscriptions.inc()
		syncs.enqueue(ws, topics.acquire(auction), since)
	}

	/** drop ends one subscription of a socket: topic or sync, count, and the bus when it was the last. */
	const drop = (ws: LiveSocket, auction: string) => {
		const subs = ws.data.subs
		const i = subs?.indexOf(auction) ?? -1
		if (i < 0) return
		subs!.splice(i, 1)
		metrics.wsSubscriptions.dec()
		const w = topics.get(auction)
		if (!w) return
		syncs.leave(ws, w)
		topics.release(w)
	}

	const unsubscribe = (ws: LiveSocket, auction: string) => {
		drop(ws, auction)
		sockets.send(ws, `{"type":"unsubscribed","auction":"${auction}"}`)
	}

	return {
		handle(ws: LiveSocket, op: ClientOp) {
			if (op.op === 'subscribe') subscribe(ws, op)
			else unsubscribe(ws, op.auction)
		},

		/** refuse ends a subscription that cannot be served and tells the socket why. */
		refuse(ws: LiveSocket, auction: string, err: AppError) {
			drop(ws, auction)
			sockets.sendError(ws, err, auction)
		},

		/** dropAll ends every subscription of a closed socket. */
		dropAll(ws: LiveSocket) {
			const subs = ws.data.subs
			if (subs === null) return
			for (const auction of [...subs]) drop(ws, auction)
			ws.data.subs = null
		},
	}
}
