import { DEFAULT_ARCHIVE_BATCH_WAIT_MS, DEFAULT_LOG_ARCHIVE_BATCH_WAIT_MS, type Config } from '../config.ts'
import { backoffDelay } from '../lib/backoff.ts'
import { workerUrl } from '../lib/worker-url.ts'
import { serverList } from '../lib/server-list.ts'
import type { NatsTls } from '../adapters/nats/event-bus.ts'
import type { Logger } from '../observability/log.ts'
import type { ArchiverReport, Metrics } from '../observability/metrics.ts'
import { eventIdOf, payloadText, type EventBus } from '../ports/event-bus.ts'
import { stateKeyOf } from '../domain/state-record.ts'
import type { ArchiverSettings, FromArchiver, ToArchiver } from '../../workers/archiver/protocol.ts'
import { runArchiver } from '../../workers/archiver/run.ts'

export interface ArchiverHostOptions {
	config: Config
	log: Logger
	metrics: Metrics
	/** The process's bus: without NATS the archiver is fed from it (subscribeAll). */
	bus: EventBus
	/** A Bun Worker (default with other roles), or this thread (`ROLES=archiver` alone). */
	inWorker: boolean
}

export interface ArchiverHost {
	mode: 'worker' | 'in-process'
	/** From the archiver's latest report: can it write? */
	health(): { healthy: boolean; problem: string | null }
	/**
	 * Resolves once an archiver of this process has applied the archive's migrations (a schema,
	 * once there, stays: a later outage does not undo it).
	 */
	migrated: Promise<void>
	/** From the archiver's latest report: events not archived yet, and the oldest one's age. */
	lag(): { events: number; seconds: number }
	/** Stops feeding it, lets it flush, and resolves with how many events that wrote. */
	stop(deadlineMs?: number): Promise<{ flushed: number }>
}

const STOP_GRACE_MS = 2_000 // beyond the archiver's own deadline, before the Worker is terminated

/** archiverSettings cuts the archiver's slice out of the configuration (it crosses into the Worker). */
export function archiverSettings(config: Config): ArchiverSettings {
	return {
		databaseUrl: config.DATABASE_URL,
		migrationUrl: config.DATABASE_MIGRATION_URL,
		caFile: config.DATABASE_CA_FILE,
		dataDir: config.DATA_DIR,
		natsUrl: config.NATS_URL,
		natsAuth: natsAuthOf(config),
		natsTls: natsTlsOf(config),
		streamReplicas: config.NATS_STREAM_REPLICAS,
		stream: config.NATS_STREAM,
		subjectPrefix: config.NATS_SUBJECT_PREFIX,
		dlqStream: config.NATS_DLQ_STREAM,
		consumer: config.ARCHIVE_CONSUMER,
		batchMax: config.ARCHIVE_BATCH_MAX,
		batchWaitMs: config.ARCHIVE_BATCH_WAIT_MS ?? (config.NATS_URL ? DEFAULT_LOG_ARCHIVE_BATCH_WAIT_MS : DEFAULT_ARCHIVE_BATCH_WAIT_MS),
		writers: config.ARCHIVE_WRITERS,
		ackWaitMs: config.ARCHIVE_ACK_WAIT_MS,
		maxDeliveries: config.ARCHIVE_MAX_DELIVERIES,
		logLevel: config.LOG_LEVEL,
	}
}

interface Target {
	push(payloads: string[]): void
	pushStates(payloads: string[]): void
	stop(deadlineMs: number): Promise<{ flushed: number }>
}

/**
 * Waiters for entries on their way into the embedded archive: the in-process bus's publish
 * resolves when the archive stored the entry (its SQLite commit is what makes it durable, docs/design.md §6),
 * and rejects when it was refused or the archiver was lost with it.
 */
function settlements() {
	const waiting = new Map<string, { resolve(): void; reject(err: Error): void }>()
	return {
		wait(key: string): Promise<void> {
			return new Promise<void>((resolve, reject) => waiting.set(key, { resolve, reject }))
		},
		settle(key: string, stored: boolean) {
			const w = waiting.get(key)
			if (!w) return
			waiting.delete(key)
			if (stored) w.resolve()
			else w.reject(new Error('the archive refused it'))
		},
		/** The archiver is gone: what it held is not stored (the bus says so to whoever waits). */
		failAll(reason: string) {
			for (const w of waiting.values()) w.reject(new Error(reason))
			waiting.clear()
		},
	}
}

/**
 * startArchiver runs the archiver beside the other roles. In a Worker (the default) its
 * decoding and writing never hold up bids or fan-out; a Worker that dies is started again. Its
 * reports land in this process's metrics, so /metrics shows the archive wherever it runs.
 * Without NATS this also subscribes to the in-process bus and forwards each turn's events.
 */
export function startArchiver({ config, log, metrics, bus, inWorker }: ArchiverHostOptions): ArchiverHost {
	const settings = archiverSettings(config)
	let health: { healthy: boolean; problem: string | null } = { healthy: true, problem: null }
	let last: ArchiverReport | null = null
	const migrated = Promise.withResolvers<void>()
	const record = (report: ArchiverReport) => {
		metrics.recordArchiverReport(report)
		health = { healthy: report.healthy, problem: report.problem }
		last = report
		if (report.migrated) migrated.resolve()
	}
	/** The archiver is gone (a crashed Worker): unhealthy until a new one reports; lag as last seen. */
	const down = (problem: string) =>
		record({
			batches: [],
			deadLetters: {},
			writeFailures: 0,
			seqConflicts: 0,
			lagEvents: last?.lagEvents ?? 0,
			lagSeconds: last?.lagSeconds ?? 0,
			healthy: false,
			problem,
			migrated: false,
		})
	const pending = settlements()
	const target: Target = inWorker
		? workerTarget(settings, log, record, down, pending)
		: (() => {
				const running = runArchiver(settings, { log, report: record, settled: pending.settle })
				return { push: running.push, pushStates: running.pushStates, stop: running.stop }
			})()

	let queue: string[] = []
	let states: string[] = []
	let scheduled = false
	const forward = () => {
		scheduled = false
		if (queue.length > 0) {
			const payloads = queue
			queue = []
			target.push(payloads)
		}
		if (states.length > 0) {
			const payloads = states
			states = []
			target.pushStates(payloads)
		}
	}
	const later = () => {
		if (!scheduled) {
			scheduled = true
			setImmediate(forward)
		}
	}
	// One message per event-loop turn, however many bids it carried. Each publish waits for the
	// archive to have stored its entry: in the embedded stack that is when a commit is durable.
	const unsubscribe = (() => {
		if (config.NATS_URL) return () => {}
		const stopEvents = bus.subscribeAll((payload) => {
			const json = payloadText(payload)
			queue.push(json)
			later()
			return pending.wait(eventIdOf(json))
		})
		const stopStates = bus.subscribeAllStates((payload) => {
			const json = payloadText(payload)
			states.push(json)
			later()
			return pending.wait(stateKeyOf(json) ?? json)
		})
		return () => {
			stopEvents()
			stopStates()
		}
	})()

	let stopping: Promise<{ flushed: number }> | null = null
	return {
		mode: inWorker ? 'worker' : 'in-process',
		health: () => health,
		migrated: migrated.promise,
		lag: () => ({ events: last?.lagEvents ?? 0, seconds: last?.lagSeconds ?? 0 }),
		stop(deadlineMs = config.SHUTDOWN_TIMEOUT_MS / 2) {
			stopping ??= (async () => {
				unsubscribe()
				forward()
				return target.stop(deadlineMs)
			})()
			return stopping
		},
	}
}

function workerTarget(
	settings: ArchiverSettings,
	log: Logger,
	record: (r: ArchiverReport) => void,
	down: (problem: string) => void,
	pending: ReturnType<typeof settlements>,
): Target {
	const send = (worker: Worker, message: ToArchiver) => worker.postMessage(message)
	let worker: Worker | null = null
	let stopping = false
	let restarts = 0
	let backlog: string[] = [] // events that came while the Worker was being restarted
	let stateBacklog: string[] = []
	let onStopped: ((flushed: number) => void) | null = null

	const spawn = () => {
		if (stopping) return
		// workerUrl, not new URL(…, import.meta.url): inside the compiled binary the Worker entry
		// lives at its path from the build root, not next to this (bundled) module.
		const w = new Worker(workerUrl('workers/archiver/index.ts'))
		worker = w
		w.onmessage = (e: MessageEvent<FromArchiver>) => {
			const message = e.data
			if (message.type === 'report') {
				record(message.report)
				if (message.report.healthy) restarts = 0
			} else if (message.type === 'settled') {
				for (const key of message.stored) pending.settle(key, true)
				for (const key of message.refused) pending.settle(key, false)
			} else if (message.type === 'stopped') onStopped?.(message.flushed)
			else if (message.type === 'failed') log.error({ error: message.error }, 'archiver failed')
		}
		w.addEventListener('error', (e) => log.error({ error: (e as ErrorEvent).message }, 'archiver worker error'))
		w.addEventListener('close', () => {
			if (worker !== w) return
			worker = null
			onStopped?.(0)
			// What it held but had not stored is not durable: those waiting hear it now, not at their deadline.
			pending.failAll('the archiver worker exited before storing it')
			if (stopping) return
			down('the archiver worker exited')
			const delayMs = Math.round(backoffDelay(restarts++, { baseMs: 200, maxMs: 10_000 }))
			log.error({ delayMs }, 'the archiver worker exited; starting it again')
			setTimeout(spawn, delayMs)
		})
		send(w, { type: 'start', config: settings })
		if (backlog.length > 0) {
			send(w, { type: 'events', payloads: backlog })
			backlog = []
		}
		if (stateBacklog.length > 0) {
			send(w, { type: 'states', payloads: stateBacklog })
			stateBacklog = []
		}
	}
	spawn()

	return {
		push(payloads) {
			if (worker) send(worker, { type: 'events', payloads })
			else backlog.push(...payloads)
		},
		pushStates(payloads) {
			if (worker) send(worker, { type: 'states', payloads })
			else stateBacklog.push(...payloads)
		},
		async stop(deadlineMs) {
			stopping = true
			const w = worker
			if (!w) return { flushed: 0 }
			const flushed = await new Promise<number>((resolve) => {
				const timer = setTimeout(() => {
					log.error({ deadlineMs }, 'the archiver worker did not stop in time; terminating it')
					resolve(0)
				}, deadlineMs + STOP_GRACE_MS)
				onStopped = (n) => {
					clearTimeout(timer)
					resolve(n)
				}
				send(w, { type: 'stop', deadlineMs })
			})
			worker = null
			w.terminate()
			return { flushed }
		},
	}
}

/** The NATS user and password from the configuration (both or neither: the configuration checks it). */
export function natsAuthOf(config: Pick<Config, 'NATS_USER' | 'NATS_PASSWORD'>): { user: string; pass: string } | undefined {
	return config.NATS_USER && config.NATS_PASSWORD ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : undefined
}

/**
 * TLS for every NATS connection gavel opens: required with a CA (NATS_CA_FILE or NATS_CA, the
 * servers checked against it) or with a tls:// server in NATS_URL (checked against the system's
 * CAs). nats.js itself ignores the scheme: without this, a tls:// URL would also talk in clear.
 */
export function natsTlsOf(config: Pick<Config, 'NATS_URL' | 'NATS_CA_FILE' | 'NATS_CA'>): NatsTls | undefined {
	if (config.NATS_CA_FILE) return { caFile: config.NATS_CA_FILE }
	if (config.NATS_CA) return { ca: config.NATS_CA }
	return serverList(config.NATS_URL ?? '').some((server) => server.startsWith('tls://')) ? {} : undefined
}
