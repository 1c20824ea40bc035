import type { NatsConnection } from '@nats-io/transport-node'
import {
	JetStreamApiError,
	jetstreamManager,
	RetentionPolicy,
	StorageType,
	type JetStreamManager,
	type StreamConfig,
	type StreamInfo,
	type StreamUpdateConfig,
} from '@nats-io/jetstream'
import type { Logger } from '../../observability/log.ts'
import { allAuctionsSubject } from './subjects.ts'

const NS_PER_MS = 1_000_000
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60 * 1000
/** JetStream's "replicas > 1 not supported in non-clustered mode". */
const NOT_CLUSTERED = 10074

/**
 * StreamSetupError: JetStream answers but cannot hold a stream as configured (more replicas than
 * the server or cluster can give a new stream). Nothing works without the stream: gavel must not start.
 */
export class StreamSetupError extends Error {
	override name = 'StreamSetupError'
}

export interface StreamSetup {
	/**
	 * The stream's replicas (NATS_STREAM_REPLICAS). Unset: 1 for a new stream, and an existing one
	 * keeps its count, so an operator's change is not undone at the next start.
	 */
	replicas?: number
	log: Logger
}

/**
 * ensureStream creates the events stream, or updates it to the wanted subjects, limits and
 * replicas, so every start converges on one configuration (docs/design.md §3). Resolves with the
 * stream as it now is: its replicas are what the archivers' consumer takes.
 */
export async function ensureStream(
	nc: NatsConnection,
	name: string,
	subjectPrefix: string,
	{ maxAgeMs = DEFAULT_MAX_AGE_MS, ...setup }: StreamSetup & { maxAgeMs?: number },
): Promise<{ jsm: JetStreamManager; info: StreamInfo }> {
	const config = {
		subjects: [allAuctionsSubject(subjectPrefix)],
		retention: RetentionPolicy.Limits,
		storage: StorageType.File,
		max_age: maxAgeMs * NS_PER_MS,
		duplicate_window: Math.min(DEFAULT_DUPLICATE_WINDOW_MS, maxAgeMs) * NS_PER_MS,
	}
	return convergeStream(nc, { name, ...config }, config, setup)
}

/**
 * convergeStream creates a stream from `create`, or applies `update` (fields not named keep their
 * value) and the replicas to the one that exists. Never deletes: a stream's messages outlive any
 * configuration change. A replica count JetStream refuses for an existing stream (a cluster short
 * of peers, say) is logged and the stream goes on with the count it has.
 */
export async function convergeStream(
	nc: NatsConnection,
	create: Partial<StreamConfig> & { name: string },
	update: Partial<StreamUpdateConfig>,
	{ replicas, log }: StreamSetup,
): Promise<{ jsm: JetStreamManager; info: StreamInfo }> {
	const { name } = create
	// A server without a cluster accepts an update to 3 replicas and keeps one: refuse it here.
	if (replicas !== undefined && replicas > 1 && !nc.info?.cluster)
		throw new StreamSetupError(notClustered(name, replicas))
	const jsm = await jetstreamManager(nc)
	for (let attempt = 0; ; attempt++) {
		let current: StreamInfo
		try {
			current = await jsm.streams.info(name)
		} catch (err) {
			if (!isStreamNotFound(err)) throw err
			try {
				return { jsm, info: await jsm.streams.add({ ...create, num_replicas: replicas ?? 1 }) }
			} catch (err) {
				// Another process created it meanwhile: update that one instead.
				if (attempt === 0 && err instanceof JetStreamApiError && /already in use/i.test(err.message)) continue
				throw setupError(err, name, replicas ?? 1)
			}
		}
		const have = current.config.num_replicas
		const want = replicas ?? have
		if (want !== have) log.warn({ stream: name, from: have, to: want }, `changing the replicas of stream ${name} from ${have} to ${want} (NATS_STREAM_REPLICAS)`)
		const info = await withReplicas((num_replicas) => jsm.streams.update(name, { ...update, num_replicas }), have, want, log, `stream ${name}`)
		return { jsm, info }
	}
}

/**
 * withReplicas applies a change with the wanted replica count; when JetStream refuses that count
 * (not enough peers, a server without a cluster), it logs why and applies the change with the
 * count the stream or consumer has now.
 */
export async function withReplicas<T>(apply: (replicas: number) => Promise<T>, have: number, want: number, log: Logger, what: string): Promise<T> {
	try {
		return await apply(want)
	} catch (err) {
		if (want === have || !(err instanceof JetStreamApiError)) throw err
		log.warn(
			{ err: err.message, have, want },
			`JetStream refused ${want} replicas for ${what} (${err.message}); going on with ${have === 0 ? 'the stream’s' : have}`,
		)
		return await apply(have)
	}
}

function setupError(err: unknown, name: string, replicas: number): unknown {
	if (!(err instanceof JetStreamApiError)) return err
	if (err.code === NOT_CLUSTERED) return new StreamSetupError(notClustered(name, replicas), { cause: err })
	return new StreamSetupError(`JetStream cannot create stream ${name} with ${replicas} replica${replicas === 1 ? '' : 's'}: ${err.message}`, { cause: err })
}

const notClustered = (name: string, replicas: number) =>
	`stream ${name} is to have ${replicas} replicas, but this NATS runs JetStream without a cluster ` +
	'("replicas > 1 not supported in non-clustered mode"): set NATS_STREAM_REPLICAS=1, or list the servers of a NATS cluster in NATS_URL'

export function isStreamNotFound(err: unknown): boolean {
	return err instanceof Error && (err.name === 'StreamNotFoundError' || /stream not found/i.test(err.message))
}
