import type { Logger } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'
import { isDense, type Archive, type ArchiveProgress } from '../ports/archive.ts'
import type { BidStore, EventsSince } from '../ports/bid-store.ts'
import type { EventBus } from '../ports/event-bus.ts'

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
/**
 * Re-publishes of one event that may fail to fill its gap before repair gives up on it: an event
 * the archiver dead-letters (the archive refuses it) never arrives however often it is sent.
 */
export const MAX_REPUBLISHES = 3

interface Suspect {
	/** When the archive was first seen behind the store. */
	since: number
	/** The store's seq then: events up to it had the grace period to arrive. */
	target: number
}

/**
 * createRepairer is crash repair (docs/design.md §6): a bid is accepted at its store commit, so if the
 * process dies before the event reaches the bus, the archive is left with a seq gap. Each tick
 * compares the archive's progress with the store's seq (`BidStore.seqs`) for the auctions that
 * can still change (a sweep over the archive's unsettled auctions, plus the store's newest),
 * and once an auction has stayed behind past the grace period it re-publishes the missing
 * events from the store's event stream with their original ids: JetStream's dedup window and
 * the archive's `on conflict do nothing` make a double harmless.
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
	/** How often each still-missing seq was re-published, per auction. */
	const republishes = new Map<string, Map<number, number>>()
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

	const repair = async (auction: string, target: number): Promise<number> => {
		const known = lost.get(auction)
		let missing = (await archive.missingSeqs(auction, target, MAX_REPAIR)).filter((seq) => !known?.has(seq))
		const tries = republishes.get(auction) ?? new Map<number, number>()
		for (const seq of tries.keys()) if (!missing.includes(seq)) tries.delete(seq) // it arrived
		const refused = missing.filter((seq) => (tries.get(seq) ?? 0) >= MAX_REPUBLISHES)
		if (refused.length > 0) {
			for (const seq of refused) tries.delete(seq)
			giveUp(auction, refused, `events re-published ${MAX_REPUBLISHES} times never reached the archive (dead-lettered?); giving up on them`)
			missing = missing.filter((seq) => !refused.includes(seq))
		}
		if (tries.size > 0) republishes.set(auction, tries)
		else republishes.delete(auction)
		if (missing.length === 0) return 0
		const found = await fromStore(auction, missing)
		if (!found) return 0
		const wanted = new Set(missing)
		const sent: number[] = []
		for (const json of found.items) {
			const { id, seq } = JSON.parse(json) as { id: string; seq: number }
			if (!wanted.has(seq)) continue
			await bus.publish(auction, id, json) // in seq order, each stored before the next
			sent.push(seq)
			tries.set(seq, (tries.get(seq) ?? 0) + 1)
		}
		if (tries.size > 0) republishes.set(auction, tries)
		if (sent.length > 0) {
			metrics.repaired.inc(sent.length)
			log.warn({ auction, seqs: sent }, 'republished events the archive lacked (lost between store commit and publish)')
		}
		if (found.gone.length > 0)
			giveUp(auction, found.gone, 'events missing from the archive are no longer kept by the store; they cannot be repaired')
		return sent.length
	}

	/** One pass; returns what it looked at and re-published (tests call it directly). */
	const tick = async (): Promise<{ checked: number; republished: number }> => {
		if (options.paused?.()) {
			suspects.clear()
			return { checked: 0, republished: 0 }
		}
		const t = now()
		const progress = await candidates()
		const ids = [...progress.keys()]
		const seqs = await store.seqs(ids)
		let republished = 0
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
				republished += await repair(id, s.target)
			} catch (err) {
				log.warn({ err, auction: id }, 'repair failed; trying again next time')
			}
		}
		return { checked: ids.length, republished }
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
