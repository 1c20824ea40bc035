import { openArchive } from '../../src/adapters/open-archive.ts'
import { backoffDelay } from '../../src/lib/backoff.ts'
import type { GavelEvent } from '../../src/events.ts'
import type { Logger } from '../../src/observability/log.ts'
import type { ArchiverReport } from '../../src/observability/metrics.ts'
import { ArchiveDataError, type Archive, type SeqConflict, type WriteResult } from '../../src/ports/archive.ts'
import { createBatcher } from './batch.ts'
import { decodeEvent } from './decode.ts'
import { parseStateRecord, stateKey, type StateRecord } from '../../src/domain/state-record.ts'
import { createJetStreamLogSource } from '../../src/adapters/nats/log-source.ts'
import { createLocalLogSource } from '../../src/adapters/local/log-source.ts'
import type { LogMessage, LogSource } from '../../src/ports/log-source.ts'
import type { ArchiverSettings } from './protocol.ts'

const DEFAULT_REPORT_EVERY_MS = 1_000
const DEFAULT_STOP_DEADLINE_MS = 5_000

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
export const keyOfEntry = (e: Entry) => (isState(e) ? stateKey(e.state.auction, e.state.rev) : e.event.id)

/** How an entry is settled with the log it came from (see LogMessage). */
type Handling = Pick<LogMessage, 'ack' | 'working' | 'deadLetter'>

/**
 * runArchiver is the archiver, shared by the Worker (`index.ts`) and by a process running only
 * `ROLES=archiver`. It takes the log through a LogSource (src/ports/log-source.ts: JetStream's
 * durable consumer, or the in-process bus's pushes), one loop for both stacks: events and state
 * records go through `createBatcher` into `archive.write` / `writeStates` and are acked only after
 * the commit: at-least-once in, and the writes are idempotent, so each is stored exactly once.
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
	const archive = deps.archive ?? openArchive({ databaseUrl: settings.databaseUrl, migrationUrl: settings.migrationUrl, caFile: settings.caFile, dataDir: settings.dataDir }, { max: writers + 1 })

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
	// The log source's trouble, apart from the archive's: each clears its own when it recovers.
	let sourceProblem: string | null = null
	const fromSource = (problem: string | null) => {
		sourceProblem = problem
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
			healthy: stats.healthy && sourceProblem === null,
			problem: sourceProblem ?? stats.problem,
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

	// The log: JetStream's durable consumer, or what the in-process bus pushes.
	const local = settings.natsUrl ? null : createLocalLogSource({ log, settled: deps.settled })
	const source: LogSource =
		local ??
		createJetStreamLogSource({
			natsUrl: settings.natsUrl!,
			auth: settings.natsAuth,
			tls: settings.natsTls,
			replicas: settings.streamReplicas,
			stream: settings.stream,
			subjectPrefix: settings.subjectPrefix,
			consumer: settings.consumer,
			dlqStream: settings.dlqStream,
			ackWaitMs: settings.ackWaitMs,
			batchMax: settings.batchMax,
			log,
		})

	/** One message of the log: decoded and checked, then batched; what cannot be stored is dead-lettered. */
	const take = (m: LogMessage): void | Promise<void> => {
		if (stopping) return
		stats.upstreamPending = source.pending()
		const handling = { ack: () => m.ack(), working: () => m.working(), deadLetter: m.deadLetter }
		if (m.deliveries > settings.maxDeliveries) return m.deadLetter('max-deliveries', `delivered ${m.deliveries} times without being archived`)
		let entry: Entry
		if (m.kind === 'state') {
			try {
				entry = { state: parseStateRecord(m.json), json: m.json, ...handling }
			} catch (err) {
				return m.deadLetter('invalid', (err as Error).message)
			}
		} else {
			const decoded = decodeEvent(m.json)
			if (!decoded.ok) return m.deadLetter(decoded.reason, decoded.error)
			entry = { event: decoded.event, json: m.json, ...handling }
		}
		taken(entry)
		return batcher.add(entry) ?? undefined
	}
	source.start({ take, problem: fromSource, deadLettered: countDeadLetter })

	return {
		push: (payloads) => local?.push(payloads),
		pushStates: (payloads) => local?.pushStates(payloads),
		async stop(deadlineMs = DEFAULT_STOP_DEADLINE_MS) {
			if (stopping) throw new Error('the archiver is already stopping')
			stopping = true
			stopDeadline = Date.now() + deadlineMs
			for (const wake of wakers) wake()
			await source.stop()
			await batcher.drain() // the last commits' acks still go out
			await source.close()
			clearInterval(reporter)
			report()
			await archive.close().catch((err: unknown) => log.warn({ err }, 'closing the archive failed'))
			log.info({ flushed: flushedWhileStopping }, 'archiver stopped')
			return { flushed: flushedWhileStopping }
		},
	}
}
