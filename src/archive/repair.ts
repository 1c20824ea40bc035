import type { Logger } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'
import { ArchiveDataError, isDense, type Archive, type ArchiveEvent, type ArchiveProgress } from '../ports/archive.ts'
import type { BidStore, EventsSince } from '../ports/bid-store.ts'
import { parseStateRecord, revOf } from '../domain/state-record.ts'
import { seqOf, type EventBus } from '../ports/event-bus.ts'
import { decodeEvent } from '../../workers/archiver/decode.ts'

export interface RepairerOptions {
	store: BidStore
	bus: EventBus
	archive: Archive
	log: Logger
	metrics: Pick<Metrics, 'repaired' | 'unrepairable'>
	/** A gap younger than this is events still on their way, not a loss. */
	graceMs: number
	intervalMs: number
	/** Auctions per tick from the archive's sweep of unsettled auctions. */
	scanLimit?: number
	/** The store's newest auctions checked every tick (catches an auction.created that never left). */
	newestLimit?: number
	/**
	 * True while the archiver cannot keep up (unhealthy, or working through a backlog): gaps are
	 * then queued events, not losses, so repair waits and the grace period starts again after.
	 */
	paused?: () => boolean
	now?: () => number
}

const DEFAULT_SCAN_LIMIT = 500
const DEFAULT_NEWEST_LIMIT = 50
/** At most this many missing events per auction per repair (the store keeps ~1,000 anyway). */
const MAX_REPAIR = 1_000

interface Suspect {
	/** When the archive was first seen behind the store. */
	since: number
	/** The store's seq then: events up to it had the grace period to arrive. */
	target: number
}

/**
 * createRepairer is crash repair (docs/design.md §6): a bid is accepted at its store commit, so if the
 * process dies before the event reaches the bus, or an archiver dies holding it, the archive is
 * left with a seq gap. Each tick compares the archive's progress with the store's seq
 * (`BidStore.seqs`) for the auctions that can still change (a sweep over the archive's
 * unsettled auctions, plus the store's newest), and once an auction has stayed behind past the
 * grace period it writes the missing events from the store's event stream into the archive
 * itself, then publishes them with their original ids so the stream has them too.
 *
 * Writing, not only re-publishing: an event that reached the stream and not the archive (its
 * archiver was killed before the commit; JetStream hands it out again only after the ack wait)
 * would be dropped by the stream's duplicate window, and the gap would stay. The archive's
 * write is idempotent (`on conflict do nothing`), so the archiver's own copy arriving later
 * changes nothing, and only the rows this write added are counted as repaired.
 */
export function createRepairer(options: RepairerOptions) {
	const { store, bus, archive, metrics, graceMs, intervalMs } = options
	const log = options.log.child({ component: 'repair' })
	const scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT
	const newestLimit = options.newestLimit ?? DEFAULT_NEWEST_LIMIT
	const now = options.now ?? Date.now
	const suspects = new Map<string, Suspect>()
	/** Seqs found missing and no longer in the store, or given up on: counted and logged once, not chased again. */
	const lost = new Map<string, Set<number>>()
	const giveUp = (auction: string, seqs: number[], why: string) => {
		metrics.unrepairable.inc(seqs.length)
		lost.set(auction, new Set([...(lost.get(auction) ?? []), ...seqs]))
		log.error({ auction, seqs }, why)
	}
	let cursor = ''

	const candidates = async (): Promise<Map<string, ArchiveProgress>> => {
		const page = await archive.unsettled(cursor, scanLimit)
		cursor = page.length < scanLimit ? '' : page[page.length - 1]!.id
		const progress = new Map(page.map((p) => [p.id, p]))
		const newest = (await store.listAuctions({ limit: newestLimit })).items.map((a) => a.id)
		const more = [...newest, ...suspects.keys()].filter((id) => !progress.has(id))
		for (const p of await archive.progress(more)) progress.set(p.id, p)
		// Never archived at all: its auction.created is missing too.
		for (const id of more) if (!progress.has(id)) progress.set(id, { id, lastSeq: -1, eventCount: 0, closed: false })
		return progress
	}

	/** Events of `auction` from the store, starting with the first of `missing` it still keeps. */
	const fromStore = async (auction: string, missing: number[]): Promise<{ items: string[]; gone: number[] } | null> => {
		const first = await store.eventsSince(auction, missing[0]! - 1)
		if (!first) return null
		if (!first.reset) return { items: first.items, gone: [] }
		// The oldest missing events left the store's window: find the first one still in it.
		let lo = 1
		let hi = missing.length
		let found: EventsSince | null = null
		while (lo < hi) {
			const mid = (lo + hi) >> 1
			const tried = await store.eventsSince(auction, missing[mid]! - 1)
			if (tried && !tried.reset) {
				hi = mid
				found = tried
			} else lo = mid + 1
		}
		if (lo < missing.length && !found) found = await store.eventsSince(auction, missing[lo]! - 1)
		return { items: found && !found.reset ? found.items : [], gone: missing.slice(0, lo) }
	}

	/**
	 * write stores events in the archive and returns how many rows it added and the seqs another
	 * event took meanwhile (a seq conflict: the archiver dead-letters its copy); the events the
	 * archive refuses for their content (the archiver would dead-letter them) are found by halving
	 * and returned apart. An unavailable archive throws: the next pass tries again.
	 */
	const write = async (events: ArchiveEvent[]): Promise<{ written: number; refused: number[]; conflicts: number[] }> => {
		try {
			const result = await archive.write(events)
			return { written: result.written, refused: [], conflicts: result.conflicts.map((c) => c.seq) }
		} catch (err) {
			if (!(err instanceof ArchiveDataError)) throw err
			if (events.length === 1) return { written: 0, refused: [events[0]!.event.seq], conflicts: [] }
			const half = events.length >> 1
			const [a, b] = [await write(events.slice(0, half)), await write(events.slice(half))]
			return { written: a.written + b.written, refused: [...a.refused, ...b.refused], conflicts: [...a.conflicts, ...b.conflicts] }
		}
	}

	const repair = async (auction: string, target: number): Promise<number> => {
		const known = lost.get(auction)
		const missing = (await archive.missingSeqs(auction, target, MAX_REPAIR)).filter((seq) => !known?.has(seq))
		if (missing.length === 0) return 0
		const found = await fromStore(auction, missing)
		if (!found) return 0
		if (found.gone.length > 0)
			giveUp(auction, found.gone, 'events missing from the archive are no longer kept by the store; they cannot be repaired')
		const wanted = new Set(missing)
		const events: ArchiveEvent[] = []
		const invalid: number[] = []
		for (const json of found.items) {
			const decoded = decodeEvent(json)
			if (decoded.ok) {
				if (wanted.has(decoded.event.seq)) events.push({ event: decoded.event, json })
			} else {
				const seq = seqIn(json)
				if (wanted.has(seq)) invalid.push(seq)
			}
		}
		if (invalid.length > 0) giveUp(auction, invalid, 'events missing from the archive are not valid events in the store either; they cannot be repaired')
		if (events.length === 0) return 0
		const { written, refused, conflicts } = await write(events)
		if (refused.length > 0) giveUp(auction, refused, 'the archive refuses events it lacks (the archiver dead-letters them too); giving up on them')
		if (conflicts.length > 0)
			log.error({ auction, seqs: conflicts }, "another event took these seqs in the archive meanwhile (the store handed them out twice); the store's events were not written")
		// The stream gets them too, in seq order: the archiver then skips them, and a copy the
		// stream already has is dropped by its duplicate window. Not awaited: a bus that is down
		// retries for minutes, and the archive no longer needs it.
		for (const { event, json } of events)
			if (!refused.includes(event.seq))
				bus.publish(auction, event.id, json).catch((err: unknown) => log.warn({ err, auction, seq: event.seq }, 'repaired event not re-published to the bus'))
		if (written > 0) {
			// The state record of the commit that was lost with its events may be missing from the log
			// too: the store's current one goes with them, so a rebuild never starts behind the archive.
			const state = await store.stateOf(auction)
			if (state) {
				await archive.writeStates([{ state: parseStateRecord(state), json: state }])
				bus.publishState(auction, revOf(state), state).catch((err: unknown) => log.warn({ err, auction }, 'repaired state record not re-published to the bus'))
			}
			metrics.repaired.inc(written)
			const seqs = events.map((e) => e.event.seq).filter((seq) => !refused.includes(seq))
			log.warn({ auction, seqs, written }, 'wrote events the archive lacked from the store (lost between the store commit and the archive)')
		}
		return written
	}

	/** One pass; returns how many auctions it looked at and how many events it wrote into the archive (tests call it directly). */
	const tick = async (): Promise<{ checked: number; repaired: number }> => {
		if (options.paused?.()) {
			suspects.clear()
			return { checked: 0, repaired: 0 }
		}
		const t = now()
		const progress = await candidates()
		const ids = [...progress.keys()]
		const seqs = await store.seqs(ids)
		let repaired = 0
		for (const [i, id] of ids.entries()) {
			const p = progress.get(id)!
			const storeSeq = seqs[i] ?? null
			const behind = storeSeq !== null && (storeSeq > p.lastSeq || !isDense(p))
			if (!behind) {
				suspects.delete(id) // caught up, or an auction this store does not know (another store, a restart)
				continue
			}
			const s = suspects.get(id)
			if (!s || (p.lastSeq >= s.target && isDense(p))) {
				// Newly behind, or caught up with the last suspicion and busy again: start the clock.
				suspects.set(id, { since: t, target: storeSeq })
				continue
			}
			if (t - s.since < graceMs) continue
			suspects.delete(id)
			try {
				repaired += await repair(id, s.target)
			} catch (err) {
				log.warn({ err, auction: id }, 'repair failed; trying again next time')
			}
		}
		return { checked: ids.length, repaired }
	}

	let timer: ReturnType<typeof setTimeout> | null = null
	let running: Promise<unknown> | null = null
	let stopped = false
	const loop = () => {
		running = tick()
			.catch((err: unknown) => log.warn({ err }, 'repair pass failed; trying again'))
			.finally(() => {
				running = null
				if (!stopped) timer = setTimeout(loop, intervalMs)
			})
	}

	return {
		tick,
		start() {
			stopped = false
			timer = setTimeout(loop, intervalMs)
		},
		async stop() {
			stopped = true
			if (timer) clearTimeout(timer)
			await running
		},
	}
}

export type Repairer = ReturnType<typeof createRepairer>

/** The seq of an event's JSON, or -1 when it is not JSON with one. */
function seqIn(json: string): number {
	try {
		return seqOf(json)
	} catch {
		return -1
	}
}
