import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import {
	AckPolicy,
	DeliverPolicy,
	jetstream,
	jetstreamManager,
	RetentionPolicy,
	StorageType,
	type ConsumerMessages,
	type JetStreamClient,
	type JetStreamManager,
	type JsMsg,
} from '@nats-io/jetstream'
import { openArchive } from '../../src/adapters/open-archive.ts'
import { ensureStream } from '../../src/adapters/nats/event-bus.ts'
import { backoffDelay } from '../../src/lib/backoff.ts'
import type { GavelEvent } from '../../src/events.ts'
import type { Logger } from '../../src/observability/log.ts'
import type { ArchiverReport } from '../../src/observability/metrics.ts'
import { ArchiveDataError, type Archive, type SeqConflict, type WriteResult } from '../../src/ports/archive.ts'
import { createBatcher } from './batch.ts'
import { decodeEvent } from './decode.ts'
import { parseStateRecord, type StateRecord } from '../../src/domain/state-record.ts'
import { isStateSubject } from '../../src/adapters/nats/subjects.ts'
import type { ArchiverSettings } from './protocol.ts'

const NS_PER_MS = 1_000_000
const DEFAULT_REPORT_EVERY_MS = 1_000
const DEFAULT_STOP_DEADLINE_MS = 5_000
const DLQ_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000 // dead letters are for people: keep them a month
const LAG_CHECK_EVERY_MS = 2_000
const utf8 = new TextDecoder()

export interface ArchiverDeps {
	log: Logger
	/** Receives an ArchiverReport every `reportEveryMs` and a last one at stop. */
	report(report: ArchiverReport): void
	/**
	 * Embedded mode: told once per pushed event (its id) or state record (`auction:rev`) whether
	 * the archive stored it (after the commit) or refused it: the host answers the publisher's wait.
	 */
	settled?(key: string, stored: boolean): void
	/** The archive to write to; default: opened from the settings (tests pass their own). */
	archive?: Archive & { migrate(): Promise<unknown> }
}

export interface RunningArchiver {
	/** Embedded mode: events from the in-process bus, in publish order (ignored with NATS). */
	push(payloads: readonly string[]): void
	/** Embedded mode: state records from the in-process bus (ignored with NATS). */
	pushStates(payloads: readonly string[]): void
	/**
	 * stop stops taking events, writes what it holds (retrying the archive until `deadlineMs`,
	 * after which JetStream keeps the unacked events for the next start) and closes everything.
	 * `flushed` is how many events it wrote while stopping.
	 */
	stop(deadlineMs?: number): Promise<{ flushed: number }>
}

/** One event on its way into the archive, with what to do once it is stored (or refused). */
interface Item extends Handling {
	event: GavelEvent
	json: string
}

/** A commit's private state record on its way into the archive (docs/design.md §6). */
interface StateItem extends Handling {
	state: StateRecord
	json: string
}

/** What the batcher carries: events and state records, written and acked together. */
type Entry = Item | StateItem
const isState = (e: Entry): e is StateItem => 'state' in e
const atOfEntry = (e: Entry) => (isState(e) ? e.state.at : e.event.at)
/** One row each: an event by its id, a state record by auction and rev (what the bus dedups on too). */
export const keyOfEntry = (e: Entry) => (isState(e) ? `${e.state.auction}:${e.state.rev}` : e.event.id)

interface Handling {
	/** After the commit: JetStream may forget it. */
	ack(): void
	/** While the archive is down: "still on it", so JetStream does not redeliver it elsewhere. */
	working(): void
	/** The archive refuses it for good: park it in the dead-letter stream (or the log). */
	deadLetter(reason: string, error: string, letter?: LetterExtras): Promise<void>
}

/** What a dead letter may carry beyond the event itself. */
interface LetterExtras {
	/** The dead-letter message's body instead of the event as delivered. */
	body?: string
	/** More fields for its log line. */
	context?: Record<string, unknown>
}

/**
 * runArchiver is the archiver, shared by the Worker (`index.ts`) and by a process running only
 * `ROLES=archiver`. With NATS it consumes a durable JetStream pull consumer; without, it takes
 * events pushed from the in-process bus. Either way events go through `createBatcher` into
 * `archive.write` (one statement per batch) and are acked only after the commit: at-least-once
 * in, and the write is idempotent, so each event is stored exactly once.
 *
 * At runtime nothing is fatal: an unavailable archive or bus is retried with exponential
 * backoff and jitter, the consumer is re-created after a failure, and an event that cannot be
 * decoded, fails the schema, is refused by the archive, or finds its (auction, seq) taken by
 * another event (a seq conflict, sent with the stored event) goes to the dead-letter stream
 * while the rest go on.
 */
export function runArchiver(settings: ArchiverSettings, deps: ArchiverDeps): RunningArchiver {
	const log = deps.log.child({ component: 'archiver' })
	// Two batches in flight keep Postgres busy while the next one is decoded and the last acked
	// (the adapter alone: ~38k → ~51k events/s on 2 cores); their auction rows are locked in id order, so they
	// cannot deadlock each other. SQLite has a single writer.
	const writers = settings.databaseUrl ? (settings.writers ?? 2) : 1
	const archive = deps.archive ?? openArchive({ databaseUrl: settings.databaseUrl, dataDir: settings.dataDir }, { max: writers + 1 })
	const dlqSubject = `${settings.dlqStream}.${settings.stream}`

	let stopping = false
	let stopDeadline = Infinity
	let migrated = false
	let flushedWhileStopping = 0
	const wakers = new Set<() => void>()
	/** A backoff wait that ends early when stop() is called. */
	const pause = (ms: number) =>
		new Promise<void>((resolve) => {
			const done = () => {
				clearTimeout(timer)
				wakers.delete(done)
				resolve()
			}
			const timer = setTimeout(done, Math.max(0, Math.min(ms, stopDeadline - Date.now())))
			wakers.add(done)
		})

	// What the next report says; counters are since the previous report.
	const stats = {
		batches: [] as ArchiverReport['batches'],
		deadLetters: {} as Record<string, number>,
		writeFailures: 0,
		seqConflicts: 0,
		healthy: true,
		problem: null as string | null,
		unwritten: 0, // events taken in and not committed (or dead-lettered) yet
		oldestUnwrittenAt: null as number | null,
		upstreamPending: 0, // events in the stream not delivered to us yet (JetStream's count)
	}
	const report = () => {
		const lagEvents = stats.unwritten + stats.upstreamPending
		const oldest = stats.oldestUnwrittenAt
		const r: ArchiverReport = {
			batches: stats.batches,
			deadLetters: stats.deadLetters,
			writeFailures: stats.writeFailures,
			seqConflicts: stats.seqConflicts,
			lagEvents,
			lagSeconds: lagEvents > 0 && oldest !== null ? Math.max(0, (Date.now() - oldest) / 1000) : 0,
			healthy: stats.healthy,
			problem: stats.problem,
			migrated,
		}
		stats.batches = []
		stats.deadLetters = {}
		stats.writeFailures = 0
		stats.seqConflicts = 0
		deps.report(r)
	}
	const reporter = setInterval(report, settings.reportEveryMs ?? DEFAULT_REPORT_EVERY_MS)
	const unhealthy = (problem: string) => {
		stats.healthy = false
		stats.problem = problem
	}
	const taken = (item: Entry) => {
		if (stats.unwritten++ === 0) stats.oldestUnwrittenAt = atOfEntry(item)
	}
	const settled = (items: readonly Entry[]) => {
		stats.unwritten -= items.length
		// Events arrive about in `at` order, so the newest settled one bounds the oldest left.
		stats.oldestUnwrittenAt = stats.unwritten > 0 ? Math.max(stats.oldestUnwrittenAt ?? 0, atOfEntry(items[items.length - 1]!)) : null
	}
	const countDeadLetter = (reason: string) => {
		stats.deadLetters[reason] = (stats.deadLetters[reason] ?? 0) + 1
	}

	/**
	 * writeIsolating writes a batch; when the archive refuses its content, it halves the batch
	 * until the refused events stand alone and dead-letters them, writing everything else.
	 * Other failures (archive unavailable) propagate to the retry loop.
	 */
	const writeIsolating = async (items: Item[]): Promise<WriteResult<Item>> => {
		try {
			return await archive.write(items)
		} catch (err) {
			if (!(err instanceof ArchiveDataError)) throw err
			if (items.length === 1) {
				await items[0]!.deadLetter('rejected', err.message)
				return { written: 0, conflicts: [] }
			}
			const half = items.length >> 1
			const first = await writeIsolating(items.slice(0, half))
			const second = await writeIsolating(items.slice(half))
			return { written: first.written + second.written, conflicts: [...first.conflicts, ...second.conflicts] }
		}
	}

	/** As writeIsolating, for state records: a refused one stands alone and is dead-lettered. */
	const writeStatesIsolating = async (items: StateItem[]): Promise<void> => {
		if (items.length === 0) return
		try {
			await archive.writeStates(items)
		} catch (err) {
			if (!(err instanceof ArchiveDataError)) throw err
			if (items.length === 1) return items[0]!.deadLetter('rejected', err.message)
			const half = items.length >> 1
			await writeStatesIsolating(items.slice(0, half))
			await writeStatesIsolating(items.slice(half))
		}
	}

	/**
	 * seqConflict: the archive holds another event at this event's (auction, seq), so a store
	 * handed the seq out twice (it lost writes). The stored event stays; this one goes to the
	 * dead-letter stream with the stored one beside it, so nothing vanishes unseen.
	 */
	const seqConflict = async ({ auction, seq, stored, incoming }: SeqConflict<Item>) => {
		const error = `seq ${seq} of auction ${auction} is already archived as event ${stored.id}; event ${incoming.event.id} was not archived`
		await incoming.deadLetter('seq-conflict', error, {
			// Both verbatim, so whoever reconciles sees exactly what each store said.
			body: `{"stored":${stored.json},"incoming":${incoming.json}}`,
			context: { auction, seq, storedEventId: stored.id, incomingEventId: incoming.event.id },
		})
		stats.seqConflicts++
	}

	/** The batcher's flush: write until committed (or stopped past the deadline), then ack. */
	const commit = async (items: Entry[]) => {
		// A redelivery can bring the same event twice into one batch; one row each is enough.
		const seen = new Set<string>()
		const unique = items.filter((i) => {
			const key = keyOfEntry(i)
			return !seen.has(key) && seen.add(key)
		})
		const events = unique.filter((i): i is Item => !isState(i))
		const states = unique.filter(isState)
		let written = 0 // over attempts: after a failed dead letter, the retry finds the rest already stored
		for (let attempt = 0; ; attempt++) {
			try {
				if (!migrated) {
					await archive.migrate()
					migrated = true
				}
				const started = performance.now()
				const result = await writeIsolating(events)
				await writeStatesIsolating(states)
				const seconds = (performance.now() - started) / 1000
				written += result.written
				// Before the acks: a dead letter that fails is retried with the whole batch.
				for (const conflict of result.conflicts) await seqConflict(conflict)
				stats.batches.push([items.length, written, seconds])
				for (const item of items) item.ack() // after the commit: at-least-once, the insert is idempotent
				if (stopping) flushedWhileStopping += items.length
				stats.healthy = true
				stats.problem = null
				settled(items)
				return
			} catch (err) {
				stats.writeFailures++
				unhealthy(`archive write failed: ${(err as Error).message}`)
				if (stopping && Date.now() >= stopDeadline) {
					log.error({ err, events: items.length }, 'stopping with events not archived; the bus keeps them unacked for the next start')
					settled(items)
					return
				}
				log.warn({ err, attempt, events: items.length }, 'archive write failed, retrying')
				for (const item of items) item.working()
				await pause(backoffDelay(attempt, { baseMs: 100, maxMs: 5_000 }))
			}
		}
	}

	// Apply the schema at start, not at the first event: history reads need the tables too.
	void (async () => {
		for (let attempt = 0; !stopping && !migrated; attempt++) {
			try {
				await archive.migrate()
				migrated = true
				// Readiness follows the archive as it is now, not the last failed attempt; and
				// it waits for this, so it is told at once rather than at the next report.
				stats.healthy = true
				stats.problem = null
				report()
			} catch (err) {
				unhealthy(`archive migration failed: ${(err as Error).message}`)
				log.warn({ err, attempt }, 'archive not reachable for migrations, retrying')
				await pause(backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 }))
			}
		}
	})()

	const batcher = createBatcher<Entry>({
		maxSize: settings.batchMax,
		maxWaitMs: settings.batchWaitMs,
		concurrency: writers,
		flush: commit,
		onError: (err) => log.error({ err }, 'archive batch failed'), // commit handles its own failures
	})

	const source = settings.natsUrl ? jetStreamSource() : localSource()

	/**
	 * Events and state records pushed from the in-process bus. Nothing to ack upstream, but each
	 * entry reports itself settled (`deps.settled`: stored, or refused), which is what makes the
	 * embedded archive's commit the moment an answer may call the commit durable. Dead letters go
	 * to the log.
	 */
	function localSource() {
		const noop = () => {}
		const logOnly = (key: string, payload: string) => async (reason: string, error: string, letter?: LetterExtras) => {
			countDeadLetter(reason)
			deps.settled?.(key, false)
			log.error({ reason, error, ...letter?.context, key, payload: payload.slice(0, 500) }, 'dead letter: not archived')
		}
		const refuse = (key: string | null, reason: string, error: string, payload: string) => {
			countDeadLetter(reason)
			if (key !== null) deps.settled?.(key, false)
			log.error({ reason, error, payload: payload.slice(0, 500) }, 'dead letter: not archived')
		}
		const enqueue = (entry: Entry) => {
			taken(entry)
			batcher.add(entry) // no waiting here: the bus cannot be paused, the batcher caps each write
		}
		return {
			push(payloads: readonly string[]) {
				if (stopping) return
				for (const json of payloads) {
					const decoded = decodeEvent(json)
					if (!decoded.ok) {
						refuse(null, decoded.reason, decoded.error, json)
						continue
					}
					const key = decoded.event.id
					enqueue({ event: decoded.event, json, ack: () => deps.settled?.(key, true), working: noop, deadLetter: logOnly(key, json) })
				}
			},
			pushStates(payloads: readonly string[]) {
				if (stopping) return
				for (const json of payloads) {
					let state: StateRecord
					try {
						state = parseStateRecord(json)
					} catch (err) {
						refuse(null, 'invalid', (err as Error).message, json)
						continue
					}
					const key = `${state.auction}:${state.rev}`
					enqueue({ state, json, ack: () => deps.settled?.(key, true), working: noop, deadLetter: logOnly(key, json) })
				}
			},
			async stop() {},
		}
	}

	/** The durable JetStream pull consumer, re-created after any failure. */
	function jetStreamSource() {
		let nc: NatsConnection | null = null
		let messages: ConsumerMessages | null = null
		let lagTimer: ReturnType<typeof setInterval> | null = null

		const ensureConsumer = async (jsm: JetStreamManager) => {
			// One instance holds at most ~4 batches unacked (client buffer, the filling batch, the one
			// being written). The headroom is for the events a crashed instance still holds until
			// their ack wait runs out: they must not block deliveries to its replacement.
			const limits = { ack_wait: settings.ackWaitMs * NS_PER_MS, max_ack_pending: Math.max(10_000, settings.batchMax * 16) }
			try {
				await jsm.consumers.info(settings.stream, settings.consumer)
				await jsm.consumers.update(settings.stream, settings.consumer, limits)
			} catch (err) {
				if ((err as Error).name !== 'ConsumerNotFoundError') throw err
				await jsm.consumers.add(settings.stream, {
					durable_name: settings.consumer,
					ack_policy: AckPolicy.Explicit,
					deliver_policy: DeliverPolicy.All, // a new archive starts from everything the stream kept
					// No filter_subject: the stream holds only auction events, and on NATS 2.9 a
					// wildcard filter makes redeliveries crawl (one every few ms) after a crash.
					max_deliver: -1, // the archiver decides when to give up (dead letter), never the server
					...limits,
				})
			}
		}

		const ensureDeadLetterStream = async (jsm: JetStreamManager) => {
			try {
				await jsm.streams.info(settings.dlqStream)
			} catch (err) {
				if ((err as Error).name !== 'StreamNotFoundError') throw err
				await jsm.streams.add({
					name: settings.dlqStream,
					subjects: [`${settings.dlqStream}.>`],
					retention: RetentionPolicy.Limits,
					storage: StorageType.File,
					max_age: DLQ_MAX_AGE_MS * NS_PER_MS,
				})
			}
		}

		const deadLetterTo = (js: JetStreamClient, m: JsMsg) => async (reason: string, error: string, letter?: LetterExtras) => {
			const h = headers()
			h.set('Gavel-Dlq-Reason', reason)
			h.set('Gavel-Dlq-Error', error.replace(/[\r\n]+/g, ' ').slice(0, 500))
			h.set('Gavel-Source-Stream', settings.stream)
			h.set('Gavel-Source-Subject', m.subject)
			h.set('Gavel-Source-Seq', String(m.info.streamSequence))
			// The source position as the message id: dead-lettering again after a crash stores it once.
			await js.publish(dlqSubject, letter?.body ?? m.data, { msgID: `${settings.stream}:${m.info.streamSequence}`, headers: h })
			m.term() // no reason text: servers before 2.10 ignore "+TERM <reason>"; it is in the headers
			countDeadLetter(reason)
			log.error(
				{ reason, error, ...letter?.context, subject: m.subject, streamSeq: m.info.streamSequence, dlq: settings.dlqStream },
				'dead letter: event moved to the dead-letter stream',
			)
		}

		const toItem = async (js: JetStreamClient, m: JsMsg): Promise<Entry | null> => {
			const deadLetter = deadLetterTo(js, m)
			if (m.info.deliveryCount > settings.maxDeliveries) {
				await deadLetter('max-deliveries', `delivered ${m.info.deliveryCount} times without being archived`)
				return null
			}
			// An ack that cannot be sent (connection closing) is a lost ack: JetStream redelivers and
			// the insert skips it. It must not fail the commit, or the batch would be retried forever.
			const quietly = (send: () => void) => () => {
				try {
					send()
				} catch (err) {
					log.debug({ err }, 'ack not sent; the event will be redelivered')
				}
			}
			const handling = { ack: quietly(() => m.ack()), working: quietly(() => m.working()), deadLetter }
			const json = utf8.decode(m.data)
			// A state record rides on its auction's subject plus `.state` (docs/design.md §6).
			if (isStateSubject(m.subject)) {
				try {
					return { state: parseStateRecord(json), json, ...handling }
				} catch (err) {
					await deadLetter('invalid', (err as Error).message)
					return null
				}
			}
			const decoded = decodeEvent(json)
			if (!decoded.ok) {
				await deadLetter(decoded.reason, decoded.error)
				return null
			}
			return { event: decoded.event, json, ...handling }
		}

		const checkLag = async (jsm: JetStreamManager) => {
			try {
				const info = await jsm.consumers.info(settings.stream, settings.consumer)
				stats.upstreamPending = info.num_pending
			} catch {
				// the consume loop reports what is wrong
			}
		}

		const loop = async () => {
			for (let attempt = 0; !stopping; attempt++) {
				try {
					nc ??= await connect({
						servers: settings.natsUrl,
						name: 'gavel-archiver',
						maxReconnectAttempts: -1,
						reconnectTimeWait: 250,
					})
					const jsm = await ensureStream(nc, settings.stream, settings.subjectPrefix)
					await ensureDeadLetterStream(jsm)
					await ensureConsumer(jsm)
					const js = jetstream(nc)
					const consumer = await js.consumers.get(settings.stream, settings.consumer)
					messages = await consumer.consume({ max_messages: Math.max(100, settings.batchMax * 2) })
					if (stopping) {
						messages.stop()
						break
					}
					lagTimer ??= setInterval(() => void checkLag(jsm), LAG_CHECK_EVERY_MS)
					void watchStatus(messages)
					log.info({ stream: settings.stream, consumer: settings.consumer }, 'consuming')
					for await (const m of messages) {
						attempt = 0
						stats.upstreamPending = m.info.pending
						const item = await toItem(js, m)
						if (!item) continue
						taken(item)
						const wait = batcher.add(item)
						if (wait) await wait // the archive is behind: stop pulling until it catches up
					}
					if (!stopping) log.warn('the consumer stopped delivering; re-creating it')
				} catch (err) {
					if (stopping) break
					unhealthy(`consumer failed: ${(err as Error).message}`)
					log.warn({ err, attempt }, 'consumer failed; re-creating it')
				}
				messages = null
				if (!stopping) await pause(backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 }))
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

		const running = loop()
		return {
			push() {},
			pushStates() {},
			async stop() {
				messages?.stop()
				if (lagTimer) clearInterval(lagTimer)
				await running
				await batcher.drain()
				if (nc && !nc.isClosed()) await nc.drain().catch(() => {})
			},
		}
	}

	return {
		push: source.push,
		pushStates: source.pushStates,
		async stop(deadlineMs = DEFAULT_STOP_DEADLINE_MS) {
			if (stopping) throw new Error('the archiver is already stopping')
			stopping = true
			stopDeadline = Date.now() + deadlineMs
			for (const wake of wakers) wake()
			await source.stop()
			await batcher.drain()
			clearInterval(reporter)
			report()
			await archive.close().catch((err: unknown) => log.warn({ err }, 'closing the archive failed'))
			log.info({ flushed: flushedWhileStopping }, 'archiver stopped')
			return { flushed: flushedWhileStopping }
		},
	}
}
