import type { Server } from 'bun'
import { AppError, RateLimitedError } from '../../errors.ts'
import type { BidStore } from '../../ports/bid-store.ts'
import type { EventBus } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import { parseClientOp, parseLiveQuery, UpgradeRequiredError } from './model.ts'
import { createSockets, OPS_BURST, websocketSettings, type LiveConnection } from './sockets.ts'
import { createSubscriptions } from './subscriptions.ts'
import { createSyncs } from './sync.ts'
import { createTopics } from './topics.ts'

export type { LiveConnection } from './sockets.ts'

export interface LiveLimits {
	/** Auctions one connection may watch at once. */
	maxSubscriptions: number
	/** Largest client frame; Bun closes the socket with 1009 above it. */
	maxFrameBytes: number
	/** Seconds without traffic before Bun closes a socket; it pings shortly before. */
	idleTimeoutS: number
	/**
	 * What one socket may have queued, live frames and replays alike: a replay fills at most
	 * half of it and waits for the socket to read; a socket over it is closed with 4008 (slow consumer).
	 */
	sendBufferBytes: number
	/** Open sockets per client address (0: no limit); one more is refused with 429 before the upgrade. */
	maxSocketsPerAddress: number
}

export interface LiveHubDeps {
	store: BidStore
	bus: EventBus
	metrics: Metrics
	log: Logger
	limits: LiveLimits
	/**
	 * How long an auction's stream waits for the bus to bring a missing event (delivered out of
	 * order, still in flight, or lost) before reading it from the store (tests shorten it).
	 */
	gapWaitMs?: number
	/** Whether the store is being rebuilt (an unknown auction may be on its way back: UNAVAILABLE, not NOT_FOUND). */
	rebuilding?: { lost(): Promise<boolean> }
}

/**
 * createLiveHub is the live role (docs/design.md §5). It puts together, one concern a module:
 * - topics.ts: the auctions watched here, taken from the bus (subscribe on the first watcher,
 *   unsubscribe after the last), one Bun topic each; order.ts sends each topic every event
 *   once and in seq order with one `server.publish`: no per-socket work on the live path;
 * - sync.ts: a new watcher's way to the topic (store read, replay in pieces, catch-up);
 * - subscriptions.ts: a socket's ops and the auctions it watches;
 * - sockets.ts: the sockets and their limits (per address, op rate, send buffer, slow consumers).
 * Each socket's `data` is one small object whose methods (below) live on a shared prototype.
 */
export function createLiveHub({ store, bus, metrics, log: parentLog, limits, gapWaitMs, rebuilding }: LiveHubDeps) {
	const log = parentLog.child({ component: 'live' })
	// Each part is given the ones it uses; the arrows reach parts made after them, and run only once there are watchers.
	const sockets = createSockets({ metrics, log, limits, onSweep: () => syncs.afterSweep() })
	const topics = createTopics({ store, bus, metrics, log, sockets, gapWaitMs, admit: (w) => syncs.admit(w) })
	const syncs = createSyncs({
		store,
		log,
		limits,
		sockets,
		topics,
		refuse: (ws, auction, err) => subscriptions.refuse(ws, auction, err),
		rebuilding,
	})
	const subscriptions = createSubscriptions({ metrics, limits, sockets, topics, syncs })

	// For /metrics: one pass over the sockets per scrape, none per event.
	metrics.sampleLive(() => ({ ...sockets.sendBuffers(), replaysWaiting: syncs.waitingCount() }))

	const connection: Omit<LiveConnection, 'subs' | 'syncs' | 'initial' | 'tokens' | 'countedAt' | 'address'> = {
		open(ws) {
			if (!sockets.add(ws)) return
			const initial = ws.data.initial
			ws.data.initial = null
			if (initial instanceof AppError) sockets.sendError(ws, initial)
			else if (initial !== null) subscriptions.handle(ws, initial)
		},
		message(ws, message) {
			const op = parseClientOp(message)
			if (op instanceof AppError) return sockets.sendError(ws, op)
			if (!sockets.takeToken(ws.data)) return sockets.sendError(ws, new RateLimitedError(1), op.auction)
			subscriptions.handle(ws, op)
		},
		drain(ws) {
			syncs.drained(ws)
		},
		close(ws) {
			if (!sockets.remove(ws)) return
			syncs.forget(ws)
			subscriptions.dropAll(ws)
		},
	}

	return {
		/** Bun's WebSocket settings for the limits (given to the Elysia app's `websocket` config). */
		websocket: websocketSettings(limits),

		/**
		 * upgrade turns a `/live` request into a watcher socket, or says why not: 426 for a
		 * request that is not a WebSocket handshake, 429 when `address` (the client's, as
		 * clientAddress gives it) has LIVE_MAX_SOCKETS_PER_IP sockets open already. Null when
		 * upgraded. The per-socket state is one small object whose methods live on a shared prototype.
		 */
		upgrade(request: Request, bunServer: Server<LiveConnection> | null, query: Record<string, string | undefined>, address: string): AppError | null {
			if (bunServer === null || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new UpgradeRequiredError()
			const tooMany = sockets.refusal(address)
			if (tooMany !== null) return tooMany
			topics.useServer(bunServer)
			const data: LiveConnection = Object.create(connection)
			data.subs = null
			data.syncs = null
			data.initial = parseLiveQuery(query)
			data.tokens = OPS_BURST
			data.countedAt = Date.now()
			data.address = address
			return bunServer.upgrade(request, { data }) ? null : new UpgradeRequiredError()
		},

		/**
		 * local fans out an event this process has just committed, without waiting for the bus to
		 * bring it back (a JetStream round trip). The bus copy that follows is dropped as a repeat;
		 * events committed by other instances still come from the bus.
		 */
		local(auction: string, json: string): void {
			const w = topics.get(auction)
			if (w !== undefined) topics.fanOut(w, json)
		},

		/** Watchers and auctions on this instance (tests and diagnostics). */
		stats: () => ({ sockets: sockets.size(), auctions: topics.size() }),

		/**
		 * close says goodbye to every watcher with 1001 (they reconnect elsewhere with `since`),
		 * spread over `spreadMs`; the ones still open get events until they are told.
		 */
		async close(spreadMs = 0) {
			await sockets.close(spreadMs)
			topics.close()
		},
	}
}

export type LiveHub = ReturnType<typeof createLiveHub>
