import type { GavelEvent } from '../events.ts'
import type { StateRecord } from '../domain/state-record.ts'
import type { Restorable } from './bid-store.ts'

/**
 * Archive keeps every event forever (docs/design.md §6) and answers the bid history.
 * Adapters: Postgres via postgres.js (`adapters/postgres`) and a `bun:sqlite` file
 * (`adapters/sqlite`), proven equal by `tests/contract/archive.ts`.
 */
export interface Archive {
	/**
	 * write stores a batch atomically and resolves after the commit with how many events were
	 * new and the seq conflicts it found. An event already archived (same id) is skipped, so
	 * writing a batch again is harmless: the archiver acks only after this resolves
	 * (at-least-once in, exactly-once stored). An event with another id on a taken (auction, seq)
	 * is not stored either, but it is no duplicate: it comes back in `conflicts` beside the event
	 * that holds the seq (the first one stays, also within one batch), and the rest of the batch
	 * is written. It rejects with ArchiveDataError when the batch's own content is refused
	 * (writing it again fails again: isolate the culprit); any other rejection means the archive
	 * is unavailable and the same batch should be retried later.
	 */
	write<E extends ArchiveEvent>(events: readonly E[]): Promise<WriteResult<E>>
	/**
	 * A page of one auction's `bid.placed` events (their JSON as received), by seq in `order`,
	 * starting after seq `after` when given; null when the archive has no such auction.
	 */
	bids(auction: string, query: HistoryQuery): Promise<ArchivedEvent[] | null>
	/** Every archived event of an auction after seq `after`, oldest first (audit and tests). */
	events(auction: string, after: number, limit: number): Promise<ArchivedEvent[]>
	/** The auction as the archive knows it, or null. */
	auction(id: string): Promise<ArchivedAuction | null>
	/**
	 * Auctions that may still gain or lack events (not closed yet, or with a hole in their seqs),
	 * ordered by id after `after`: the crash-repair sweep.
	 */
	unsettled(after: string, limit: number): Promise<ArchiveProgress[]>
	/** How far the archive got for these auctions; ids it has never seen are left out. */
	progress(ids: readonly string[]): Promise<ArchiveProgress[]>
	/** The seqs from 0 to `upTo` the archive lacks for an auction, ascending, at most `limit`. */
	missingSeqs(auction: string, upTo: number, limit: number): Promise<number[]>
	/**
	 * writeStates keeps each auction's newest state record (by rev) and every idempotency answer
	 * they carry: the private half of the log (docs/design.md §6), which the history never shows.
	 * Idempotent, so the archiver acks after it as after `write`.
	 */
	writeStates(states: readonly ArchiveState[]): Promise<void>
	/**
	 * What a lost store is rebuilt from: for each auction not closed (or closed at or after
	 * `closedSince`), ordered by id after `after`, its newest state record, its last `eventsKept`
	 * events up to that state's seq, and its idempotency answers given at or after `answersSince`.
	 */
	restorables(query: RestorableQuery): Promise<Restorable[]>
	/** Forgets idempotency answers given before `before` (epoch ms): they expired; returns how many. */
	pruneAnswers(before: number): Promise<number>
	ping(): Promise<void>
	close(): Promise<void>
}

/** A decoded, schema-checked state record and the exact JSON it arrived as. */
export interface ArchiveState {
	state: StateRecord
	json: string
}

export interface RestorableQuery {
	/** Continue after this auction id ('' from the start). */
	after: string
	limit: number
	eventsKept: number
	answersSince: number
	closedSince: number
	/** Only these auctions (a rebuild of one); every auction when left out. */
	ids?: readonly string[]
}

/** A decoded, schema-checked event and the exact JSON it arrived as (stored verbatim). */
export interface ArchiveEvent {
	event: GavelEvent
	json: string
}

/** What one `write` did: events new to the archive, and the batch's events refused for a taken seq. */
export interface WriteResult<E extends ArchiveEvent = ArchiveEvent> {
	written: number
	/** In batch order; empty on the common path. */
	conflicts: SeqConflict<E>[]
}

/**
 * SeqConflict: the batch brought an event for an (auction, seq) the archive already holds with
 * another event id. Only a store that handed out a seq twice produces one (one that lost its
 * last writes, e.g. a Redis failover); the stored event stays and the incoming one is not kept.
 */
export interface SeqConflict<E extends ArchiveEvent = ArchiveEvent> {
	auction: string
	seq: number
	/** The event that holds the seq: its id and its JSON as archived. */
	stored: { id: string; json: string }
	/** The batch's own element that was refused (the same object that was passed in). */
	incoming: E
}

export interface ArchivedEvent {
	seq: number
	json: string
}

export interface HistoryQuery {
	order: 'asc' | 'desc'
	/** Continue after this seq (exclusive), in `order`. */
	after?: number
	limit: number
}

export interface ArchiveProgress {
	id: string
	/** Highest archived seq (-1: none yet). */
	lastSeq: number
	/** Archived events; `lastSeq + 1` when there is no hole. */
	eventCount: number
	closed: boolean
}

/** An auction row, kept current from its events (settings from auction.created, state from the rest). */
export interface ArchivedAuction {
	id: string
	title: string | null
	sellerId: string | null
	currency: string | null
	startingPrice: number | null
	status: 'open' | 'closed'
	price: number | null
	leader: string | null
	reserveMet: boolean | null
	endsAt: number | null
	winner: string | null
	bidCount: number
	eventCount: number
	lastSeq: number
}

/**
 * ArchiveDataError: the archive refused what a batch contains (a value out of range, a
 * character the database cannot store, a broken constraint). Retrying the same batch cannot
 * help; splitting it finds the event at fault, which goes to the dead-letter stream.
 */
export class ArchiveDataError extends Error {
	override name = 'ArchiveDataError'
	constructor(message: string, options?: ErrorOptions) {
		super(message, options)
	}
}

/** isDense: the archive holds every seq from 0 to its last one. */
export const isDense = (p: Pick<ArchiveProgress, 'lastSeq' | 'eventCount'>): boolean => p.eventCount === p.lastSeq + 1
