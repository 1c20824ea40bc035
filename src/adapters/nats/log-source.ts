import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import {
	AckPolicy,
	DeliverPolicy,
	jetstream,
	RetentionPolicy,
	StorageType,
	type ConsumerMessages,
	type JetStreamClient,
	type JetStreamManager,
	type JsMsg,
} from '@nats-io/jetstream'
import { backoffDelay } from '../../lib/backoff.ts'
import { serverList } from '../../lib/server-list.ts'
import type { Logger } from '../../observability/log.ts'
import type { DeadLetterExtras, LogMessage, LogSource, LogSourceHooks } from '../../ports/log-source.ts'
import { convergeStream, ensureStream, withReplicas } from './streams.ts'
import { explainNatsTlsError, type NatsAuth, type NatsTls } from './event-bus.ts'
import { isStateSubject, STATE_HEADER } from './subjects.ts'

const NS_PER_MS = 1_000_000
const DLQ_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000 // dead letters are for people: keep them a month
const LAG_CHECK_EVERY_MS = 2_000
// A pull's lifetime. It also bounds how long nats.js waits after a failed check of the consumer
// before it pulls again: on a cluster that check fails while a dead node's consumer elects a new
// leader, and with the default 30 s the archiver would sit that long on a healthy cluster.
const PULL_EXPIRES_MS = 5_000
const utf8 = new TextDecoder()

export interface JetStreamLogSourceOptions {
	/** One NATS URL, or a cluster's servers comma-separated (NATS_URL). */
	natsUrl: string
	/** NATS_USER and NATS_PASSWORD. */
	auth?: NatsAuth
	/** NATS_CA_FILE, NATS_CA or a tls:// server: TLS required and verified. */
	tls?: NatsTls
	/** The events and dead-letter streams' replicas (NATS_STREAM_REPLICAS); unset keeps what they have. */
	replicas?: number
	stream: string
	subjectPrefix: string
	/** The durable consumer the archivers share. */
	consumer: string
	/** The dead-letter stream (subjects `<dlqStream>.>`). */
	dlqStream: string
	/** Unacked this long, a message is delivered again (to any archiver). */
	ackWaitMs: number
	/** Messages one archiver asks for at a time. */
	batchMax: number
	log: Logger
}

/**
 * createJetStreamLogSource is the log on NATS: the events stream through one durable pull
 * consumer the archivers share, re-created after any failure, and a dead-letter stream for what
 * they refuse (the message unchanged, the reason and its source position in headers).
 */
export function createJetStreamLogSource(options: JetStreamLogSourceOptions): LogSource {
	const { log, stream } = options
	const dlqSubject = `${options.dlqStream}.${stream}`
	let hooks: LogSourceHooks | null = null
	let nc: NatsConnection | null = null
	let messages: ConsumerMessages | null = null
	let lagTimer: ReturnType<typeof setInterval> | null = null
	let upstreamPending = 0
	let stopping = false
	let running: Promise<void> = Promise.resolve()
	let wake: (() => void) | null = null
	/** A backoff wait that ends early when stop() is called. */
	const pause = (ms: number) =>
		new Promise<void>((resolve) => {
			const timer = setTimeout(() => {
				wake = null
				resolve()
			}, ms)
			wake = () => {
				clearTimeout(timer)
				wake = null
				resolve()
			}
		})

	/**
	 * The consumer gets the stream's replicas, set explicitly (0 would mean "as the stream"), so it
	 * survives what the stream survives: on an R3 stream another node takes over its deliveries.
	 */
	const ensureConsumer = async (jsm: JetStreamManager, replicas: number) => {
		// One instance holds at most ~4 batches unacked (client buffer, the filling batch, the one
		// being written). The headroom is for the events a crashed instance still holds until
		// their ack wait runs out: they must not block deliveries to its replacement.
		const limits = { ack_wait: options.ackWaitMs * NS_PER_MS, max_ack_pending: Math.max(10_000, options.batchMax * 16) }
		try {
			const current = await jsm.consumers.info(stream, options.consumer)
			const update = (num_replicas: number) => jsm.consumers.update(stream, options.consumer, { ...limits, num_replicas })
			await withReplicas(update, current.config.num_replicas ?? 0, replicas, log, `consumer ${options.consumer}`)
		} catch (err) {
			if ((err as Error).name !== 'ConsumerNotFoundError') throw err
			await jsm.consumers.add(stream, {
				num_replicas: replicas,
				durable_name: options.consumer,
				ack_policy: AckPolicy.Explicit,
				deliver_policy: DeliverPolicy.All, // a new archive starts from everything the stream kept
				// No filter_subject: the stream holds only auction events and state records, and on
				// NATS 2.9 a wildcard filter makes redeliveries crawl (one every few ms) after a crash.
				max_deliver: -1, // the archiver decides when to give up (dead letter), never the server
				...limits,
			})
		}
	}

	/** Created with gavel's settings; an existing one only gets the replicas (its limits are the operator's). */
	const ensureDeadLetterStream = (nc: NatsConnection) =>
		convergeStream(
			nc,
			{
				name: options.dlqStream,
				subjects: [`${options.dlqStream}.>`],
				retention: RetentionPolicy.Limits,
				storage: StorageType.File,
				max_age: DLQ_MAX_AGE_MS * NS_PER_MS,
			},
			{},
			{ replicas: options.replicas, log },
		)

	const deadLetterTo =
		(js: JetStreamClient, m: JsMsg, part = '', settle = () => m.term(), body: Uint8Array | string = m.data) =>
		async (reason: string, error: string, letter?: DeadLetterExtras) => {
			const h = headers()
			h.set('Gavel-Dlq-Reason', reason)
			h.set('Gavel-Dlq-Error', error.replace(/[\r\n]+/g, ' ').slice(0, 500))
			h.set('Gavel-Source-Stream', stream)
			h.set('Gavel-Source-Subject', m.subject)
			h.set('Gavel-Source-Seq', String(m.info.streamSequence))
			if (part) h.set('Gavel-Source-Part', part)
			// The source position as the message id: dead-lettering again after a crash stores it once.
			await js.publish(dlqSubject, letter?.body ?? body, { msgID: `${stream}:${m.info.streamSequence}${part && `:${part}`}`, headers: h })
			settle() // term, no reason text: servers before 2.10 ignore "+TERM <reason>"; it is in the headers
			hooks?.deadLettered(reason)
			log.error(
				{ reason, error, ...letter?.context, subject: m.subject, streamSeq: m.info.streamSequence, part: part || undefined, dlq: options.dlqStream },
				'dead letter: event moved to the dead-letter stream',
			)
		}

	// An ack that cannot be sent (connection closing) is a lost ack: JetStream redelivers and the
	// insert skips it. It must not fail the commit, or the batch would be retried forever.
	const quietly = (send: () => void) => () => {
		try {
			send()
		} catch (err) {
			log.debug({ err }, 'ack not sent; the message will be delivered again')
		}
	}

	/**
	 * toMessages: what one message of the stream holds for the archiver. An event, a state record
	 * (its auction's subject plus `.state`), or an event carrying its commit's state record in
	 * STATE_HEADER (docs/design.md §6): then two, each settled on its own, and the message is
	 * acked once both are stored (termed if either was dead-lettered), never before.
	 */
	const toMessages = (js: JetStreamClient, m: JsMsg): LogMessage[] => {
		const json = utf8.decode(m.data)
		const deliveries = m.info.deliveryCount
		const working = quietly(() => m.working())
		if (isStateSubject(m.subject)) return [{ json, kind: 'state', deliveries, ack: quietly(() => m.ack()), working, deadLetter: deadLetterTo(js, m) }]
		const state = m.headers?.get(STATE_HEADER)
		if (!state) return [{ json, kind: 'event', deliveries, ack: quietly(() => m.ack()), working, deadLetter: deadLetterTo(js, m) }]
		// Each half settles once (the archiver may ack a batch's dead-lettered entry too).
		let open = 2
		let refused = false
		const half = () => {
			let settled = false
			return (refuse: boolean) => {
				if (settled) return
				settled = true
				refused ||= refuse
				if (--open === 0) refused ? m.term() : m.ack()
			}
		}
		const [event, record] = [half(), half()]
		return [
			{ json, kind: 'event', deliveries, ack: quietly(() => event(false)), working, deadLetter: deadLetterTo(js, m, 'event', () => event(true)) },
			{ json: state, kind: 'state', deliveries, ack: quietly(() => record(false)), working, deadLetter: deadLetterTo(js, m, 'state', () => record(true), state) },
		]
	}

	const checkLag = async (jsm: JetStreamManager) => {
		try {
			upstreamPending = (await jsm.consumers.info(stream, options.consumer)).num_pending
		} catch {
			// the consume loop reports what is wrong
		}
	}

	/** A deleted consumer or stream ends the iteration, so the loop re-creates them. */
	const watchStatus = async (m: ConsumerMessages) => {
		for await (const s of m.status()) {
			if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
				log.warn({ status: s }, 'consumer gone; re-creating it')
				m.stop()
				return
			}
		}
	}

	const loop = async (take: LogSourceHooks['take']) => {
		for (let attempt = 0; !stopping; attempt++) {
			try {
				nc ??= await connect({
					servers: serverList(options.natsUrl),
					...options.auth,
					tls: options.tls,
					name: 'gavel-archiver',
					maxReconnectAttempts: -1,
					reconnectTimeWait: 250,
				}).catch((err: unknown) => {
					throw explainNatsTlsError(err)
				})
				const { jsm, info } = await ensureStream(nc, stream, options.subjectPrefix, { replicas: options.replicas, log })
				await ensureDeadLetterStream(nc)
				await ensureConsumer(jsm, info.config.num_replicas)
				const js = jetstream(nc)
				const consumer = await js.consumers.get(stream, options.consumer)
				messages = await consumer.consume({ max_messages: Math.max(100, options.batchMax * 2), expires: PULL_EXPIRES_MS })
				if (stopping) {
					messages.stop()
					break
				}
				lagTimer ??= setInterval(() => void checkLag(jsm), LAG_CHECK_EVERY_MS)
				void watchStatus(messages)
				log.info({ stream, consumer: options.consumer }, 'consuming')
				hooks?.problem(null)
				for await (const m of messages) {
					attempt = 0
					upstreamPending = m.info.pending
					for (const message of toMessages(js, m)) {
						const wait = take(message)
						if (wait) await wait // the archive is behind: stop pulling until it catches up
					}
				}
				if (!stopping) log.warn('the consumer stopped delivering; re-creating it')
			} catch (err) {
				if (stopping) break
				hooks?.problem(`consumer failed: ${(err as Error).message}`)
				log.warn({ err, attempt }, 'consumer failed; re-creating it')
			}
			messages = null
			if (!stopping) await pause(backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 }))
		}
	}

	return {
		start(h) {
			hooks = h
			running = loop(h.take)
		},
		pending: () => upstreamPending,
		async stop() {
			stopping = true
			wake?.()
			messages?.stop()
			if (lagTimer) clearInterval(lagTimer)
			await running
		},
		async close() {
			if (nc && !nc.isClosed()) await nc.drain().catch(() => {})
		},
	}
}
