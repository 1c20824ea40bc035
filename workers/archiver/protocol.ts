import type { ArchiverReport } from '../../src/observability/metrics.ts'

/**
 * The archiver's slice of the configuration: plain data, so it crosses into the Worker in the
 * first message (`{type: 'start', config}`) and the Worker never reads the environment.
 */
export interface ArchiverSettings {
	/** Postgres archive; unset = the SQLite file in dataDir. */
	databaseUrl?: string
	/** DATABASE_MIGRATION_URL and DATABASE_CA_FILE (Postgres). */
	migrationUrl?: string
	caFile?: string
	dataDir: string
	/** JetStream source (one URL or a comma-separated list); unset = events are pushed in (`{type: 'events'}`) from the in-process bus. */
	natsUrl?: string
	/** NATS_USER and NATS_PASSWORD, when the servers want them. */
	natsAuth?: { user: string; pass: string }
	/** NATS_CA_FILE or NATS_CA (or a tls:// server): TLS required, the servers verified against that CA. */
	natsTls?: { caFile?: string; ca?: string }
	/** NATS_STREAM_REPLICAS: the events and dead-letter streams' replicas, and the consumer's. */
	streamReplicas?: number
	stream: string
	subjectPrefix: string
	dlqStream: string
	consumer: string
	batchMax: number
	batchWaitMs: number
	/** Batch writes in flight at once on Postgres (SQLite has one writer: always 1). */
	writers?: number
	ackWaitMs: number
	maxDeliveries: number
	logLevel: string
	/** How often the archiver reports metrics and health (ms). */
	reportEveryMs?: number
}

/** Main thread → archiver Worker. */
export type ToArchiver =
	| { type: 'start'; config: ArchiverSettings }
	/** Event JSON from the in-process bus (embedded mode only), in publish order. */
	| { type: 'events'; payloads: string[] }
	/** State records from the in-process bus (embedded mode only). */
	| { type: 'states'; payloads: string[] }
	/** Flush what is held, close, answer `stopped`; give up on writes after `deadlineMs`. */
	| { type: 'stop'; deadlineMs?: number }

/** Archiver Worker → main thread. */
export type FromArchiver =
	| { type: 'report'; report: ArchiverReport }
	/** Embedded mode: entries (event ids, `auction:rev`) the archive has stored, or refused, since the last one. */
	| { type: 'settled'; stored: string[]; refused: string[] }
	| { type: 'stopped'; flushed: number }
	| { type: 'failed'; error: string }
