import { connect } from '@nats-io/transport-node'
import type { EventBus } from '../../ports/event-bus.ts'
import { backoffDelay, sleep } from '../../lib/backoff.ts'
import type { Logger } from '../../observability/log.ts'
import { stateKey } from '../../domain/state-record.ts'
import { serverList } from '../../lib/server-list.ts'
import { allAuctionsSubject, auctionSubject, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX, everyAuctionEvents, isStateSubject, STATE_HEADER, stateSubject } from './subjects.ts'
import { createAckedPublisher } from './acked-publisher.ts'
import { ensureStream } from './streams.ts'

/** NATS_USER and NATS_PASSWORD: the servers' user, for every connection gavel opens. */
export interface NatsAuth {
	user: string
	pass: string
}

/**
 * nats.js's TLS options (transport-node reads `caFile` at each connect, or takes `ca` as text).
 * Any object, even `{}`, makes the client refuse a server without TLS; without a CA the servers
 * are checked against the system's CAs. Left out, the client still upgrades when a server offers
 * TLS, but would also talk in clear to one that does not.
 */
export interface NatsTls {
	caFile?: string
	ca?: string
}

/** Verification codes of Node's TLS errors: the servers' certificate was refused, not the network. */
const CERTIFICATE_ERROR = /CERT|SIGNATURE|ISSUER|ALTNAME/

/** A refused certificate names the settings that decide it, so the start's one line says what to fix. */
export function explainNatsTlsError(err: unknown): unknown {
	const code = (err as { code?: unknown } | null)?.code
	if (typeof code !== 'string' || !CERTIFICATE_ERROR.test(code)) return err
	return new Error(`${(err as Error).message} (${code}); NATS_CA_FILE or NATS_CA must be the CA that signed the servers' certificates`, { cause: err })
}

export interface NatsEventBusOptions {
	/** One NATS URL, or a cluster's servers comma-separated (NATS_URL). */
	url: string
	auth?: NatsAuth
	/** NATS_CA_FILE, NATS_CA or a tls:// server: TLS required and verified (src/archive/host.ts natsTlsOf). */
	tls?: NatsTls
	/** The stream's replicas (NATS_STREAM_REPLICAS); unset keeps an existing stream's count, 1 for a new one. */
	replicas?: number
	stream?: string
	subjectPrefix?: string
	log: Logger
	/** How long the stream keeps events for consumers that fall behind (the archive keeps them forever). */
	maxAgeMs?: number
	/** A publish that still fails after this long is given up (and logged); crash repair re-sends it. */
	giveUpAfterMs?: number
	name?: string
}

const DEFAULT_GIVE_UP_AFTER_MS = 10 * 60 * 1000
/**
 * A publish without its PubAck by then is sent again (same msg id: stored once). Well inside
 * DURABLE_WAIT_MS (5 s): on a cluster a publish that reached a stream leader as it died, or
 * arrived while the new one was being elected, gets no answer at all, and its retry must still
 * land before the bid's answer turns into OUTCOME_UNKNOWN.
 */
const PUBLISH_TIMEOUT_MS = 2_000

/**
 * createNatsEventBus publishes to JetStream with `Nats-Msg-Id` = event id, so a retried
 * publish is dropped by the server's dedup window instead of stored twice.
 */
export async function createNatsEventBus(options: NatsEventBusOptions) {
	const stream = options.stream ?? DEFAULT_STREAM
	const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX
	const giveUpAfterMs = options.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS
	const log = options.log.child({ component: 'nats-bus' })
	// noAsyncTraces: no Error (stack capture) per publish request; our own logs say where.
	// Every server of the list is a seed: the client reconnects to any of them (and to those the
	// cluster announces), so losing one node moves the connection instead of ending it.
	const nc = await connect({
		servers: serverList(options.url),
		...options.auth,
		tls: options.tls,
		name: options.name ?? 'gavel',
		maxReconnectAttempts: -1,
		reconnectTimeWait: 250,
		noAsyncTraces: true,
	}).catch((err: unknown) => {
		throw explainNatsTlsError(err)
	})
	await ensureStream(nc, stream, prefix, { maxAgeMs: options.maxAgeMs, replicas: options.replicas, log }).catch(async (err: unknown) => {
		await nc.close()
		throw err
	})
	const acked = createAckedPublisher(nc, { timeoutMs: PUBLISH_TIMEOUT_MS })
	const inFlight = new Set<Promise<void>>()
	const resumeListeners = new Set<() => void>()
	// Core subscriptions get nothing while disconnected (JetStream still stores everything).
	;(async () => {
		for await (const status of nc.status()) {
			if (status.type !== 'reconnect') continue
			log.warn({ server: status.server }, 'NATS connection back; live subscribers re-sync from the store')
			for (const listener of resumeListeners) listener()
		}
	})().catch(() => {})
	let closing = false

	const publishUntilStored = async (subject: string, eventId: string, payload: string, state?: string) => {
		const started = Date.now()
		for (let attempt = 0; ; attempt++) {
			try {
				await acked.publish(subject, eventId, payload, state)
				return
			} catch (err) {
				if (Date.now() - started > giveUpAfterMs || nc.isClosed()) throw err
				log.warn({ err, subject, eventId, attempt }, 'publish failed, retrying')
				await sleep(backoffDelay(attempt, { baseMs: 20, maxMs: 2_000 }))
			}
		}
	}

	// Publishes asked for in one turn of the event loop are started together on setImmediate,
	// so the client writes their PUB frames to the socket in one syscall instead of one each
	// (measured: a write per event cost a quarter of the process' CPU under load).
	let queued: Array<() => void> = []
	const startQueued = () => {
		const batch = queued
		queued = []
		for (const start of batch) start()
	}

	const enqueue = (subject: string, msgId: string, payload: string, state?: string) => {
		if (closing) return Promise.reject(new Error('event bus is closed'))
		const p = new Promise<void>((resolve, reject) => {
			if (queued.length === 0) setImmediate(startQueued)
			queued.push(() => publishUntilStored(subject, msgId, payload, state).then(resolve, reject))
		})
		inFlight.add(p)
		const done = () => inFlight.delete(p)
		p.then(done, done)
		return p
	}

	const bus = {
		publish: (auction, eventId, payload, state?) => enqueue(auctionSubject(prefix, auction), eventId, payload, state),
		publishState: (auction, rev, payload) => enqueue(stateSubject(prefix, auction), stateKey(auction, rev), payload),
		subscribe(auction, onEvent) {
			const sub = nc.subscribe(auctionSubject(prefix, auction), {
				callback: (err, msg) => {
					if (!err) onEvent(msg.data)
				},
			})
			return () => sub.unsubscribe()
		},
		subscribeAll(onEvent) {
			const sub = nc.subscribe(everyAuctionEvents(prefix), {
				callback: (err, msg) => {
					if (!err) void onEvent(msg.data)
				},
			})
			return () => sub.unsubscribe()
		},
		subscribeAllStates(onState) {
			// State records travel on their own subject, or in the header of their commit's last event.
			const sub = nc.subscribe(allAuctionsSubject(prefix), {
				callback: (err, msg) => {
					if (err) return
					if (isStateSubject(msg.subject)) return void onState(msg.data)
					const state = msg.headers?.get(STATE_HEADER)
					if (state) void onState(state)
				},
			})
			return () => sub.unsubscribe()
		},
		onResume(listener) {
			resumeListeners.add(listener)
			return () => void resumeListeners.delete(listener)
		},
		async flush() {
			while (inFlight.size > 0) await Promise.allSettled([...inFlight])
		},
		async ping() {
			if (nc.isClosed()) throw new Error('NATS connection closed')
			await nc.flush()
		},
		async close() {
			closing = true
			await bus.flush()
			acked.close()
			if (!nc.isClosed()) await nc.drain()
		},
	} satisfies EventBus
	return Object.assign(bus, { connection: nc, stream, subjectPrefix: prefix })
}
