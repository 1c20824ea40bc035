import { useEffect, useMemo } from 'preact/hooks'
import { batch, signal } from '@preact/signals'
import type { AuctionView } from '../../domain/auction.ts'
import { connectLive, type LiveConnection, type Watcher, type WatchStatus } from '../../client/watch.ts'
import { api } from '../api.ts'
import { applyEvent, phaseOf, type Phase } from '../auction-state.ts'
import { now } from '../clock.ts'
import { Connection } from '../components/connection.tsx'
import { Countdown } from '../components/countdown.tsx'
import { money } from '../format.ts'
import { session } from '../session.ts'

/**
 * How many of each the list asks for: the open auctions, the next scheduled, the latest closed.
 * The open and scheduled ones are watched on one socket, which takes at most
 * LIVE_MAX_SUBSCRIPTIONS (100 by default) auctions: 80 leaves room.
 */
const LIMITS = { open: 60, scheduled: 20, closed: 12 } as const
/** New auctions appear without a reload: the lists are read again this often (the known ones move live meanwhile). */
const REFRESH_MS = 30_000
/** Worst first: the list's connection is as good as its worst watch. */
const STATUS_ORDER: WatchStatus[] = ['reconnecting', 'connecting', 'catching-up', 'live', 'closed']

/**
 * homeModel keeps every listed auction current: one `/live` socket (connectLive) carries a watch
 * per auction that can still change, each from the seq its listing had.
 */
function homeModel() {
	const auctions = signal<ReadonlyMap<string, AuctionView>>(new Map())
	const loaded = signal(false)
	const loadError = signal<string | null>(null)
	const statuses = signal<ReadonlyMap<string, WatchStatus>>(new Map())
	const watchers = new Map<string, Watcher>()
	let live: LiveConnection | null = null
	let refreshTimer: ReturnType<typeof setTimeout> | null = null
	let stopped = false

	const put = (view: AuctionView) => {
		const known = auctions.value.get(view.id)
		if (known !== undefined && known.seq > view.seq) return
		auctions.value = new Map(auctions.value).set(view.id, view)
	}
	const setStatus = (id: string, status: WatchStatus) => {
		statuses.value = new Map(statuses.value).set(id, status)
	}

	const follow = (view: AuctionView) => {
		if (watchers.has(view.id) || phaseOf(view, Date.now()) === 'closed') return
		live ??= connectLive(location.origin)
		const watcher = live.watch(view.id, {
			since: view.seq,
			onState: put,
			onEvent: (event) => {
				const known = auctions.value.get(view.id)
				if (known !== undefined) put(applyEvent(known, event))
				if (event.type === 'auction.closed') unfollow(view.id)
			},
			onStatus: (status) => setStatus(view.id, status),
		})
		watchers.set(view.id, watcher)
	}
	const unfollow = (id: string) => {
		watchers.get(id)?.close()
		watchers.delete(id)
		const next = new Map(statuses.value)
		next.delete(id)
		statuses.value = next
	}

	async function load() {
		try {
			const [open, scheduled, closed] = await Promise.all([
				api.listAuctions('open', LIMITS.open),
				api.listAuctions('scheduled', LIMITS.scheduled),
				api.listAuctions('closed', LIMITS.closed),
			])
			if (stopped) return
			batch(() => {
				for (const view of [...open.items, ...scheduled.items, ...closed.items]) put(view)
				loaded.value = true
				loadError.value = null
			})
			for (const view of [...open.items, ...scheduled.items]) follow(view)
		} catch (err) {
			// Shown only when there is nothing to show; a failed refresh keeps the live list.
			loadError.value = err instanceof Error ? err.message : String(err)
		}
		if (!stopped) refreshTimer = setTimeout(load, REFRESH_MS)
	}

	return {
		auctions,
		loaded,
		loadError,
		/** The list's connection: its worst watch's status, `live` when nothing needs watching. */
		status(): WatchStatus | null {
			const all = [...statuses.value.values()]
			return all.length === 0 ? null : (STATUS_ORDER.find((s) => all.includes(s)) ?? 'live')
		},
		start: load,
		stop() {
			stopped = true
			if (refreshTimer !== null) clearTimeout(refreshTimer)
			live?.close()
		},
	}
}

const byPhase = (list: AuctionView[], t: number, phases: Phase[]) => list.filter((a) => phases.includes(phaseOf(a, t)))

/** `/`: the auctions, open first (ending soonest first), then scheduled (starting soonest), then the latest closed. */
export function HomePage() {
	const model = useMemo(homeModel, [])
	useEffect(() => {
		document.title = 'Auctions · gavel'
		void model.start()
		return () => model.stop()
	}, [model])
	const t = now.value
	const all = [...model.auctions.value.values()]
	const open = byPhase(all, t, ['open', 'ending']).sort((a, b) => a.endsAt - b.endsAt)
	const scheduled = byPhase(all, t, ['scheduled']).sort((a, b) => a.startsAt - b.startsAt)
	const closed = byPhase(all, t, ['closed']).sort((a, b) => b.endsAt - a.endsAt)
	const status = model.status()
	return (
		<>
			<div class="title-row">
				<h1>Auctions</h1>
				{status !== null ? <Connection status={status} /> : null}
			</div>
			{!model.loaded.value ? (
				model.loadError.value !== null ? (
					<p class="error" role="alert">
						The auctions could not be loaded: {model.loadError.value}
					</p>
				) : (
					<p class="loading" role="status">
						Loading…
					</p>
				)
			) : all.length === 0 ? (
				<section class="empty">
					<p>
						No auctions yet. <a href="/sell">Create one</a>.
					</p>
				</section>
			) : (
				<>
					<Section title="Open now" auctions={open} empty="Nothing is open right now." />
					<Section title="Starting soon" auctions={scheduled} empty={null} />
					<Section title="Recently closed" auctions={closed} empty={null} />
				</>
			)}
		</>
	)
}

function Section({ title, auctions, empty }: { title: string; auctions: AuctionView[]; empty: string | null }) {
	if (auctions.length === 0 && empty === null) return null
	const slug = title.toLowerCase().replace(/\s+/g, '-')
	return (
		<section class="listing" aria-labelledby={slug}>
			<h2 id={slug}>{title}</h2>
			{auctions.length === 0 ? <p class="hint">{empty}</p> : null}
			<ul class="cards">
				{auctions.map((a) => (
					<Card key={a.id} auction={a} />
				))}
			</ul>
		</section>
	)
}

function Card({ auction: a }: { auction: AuctionView }) {
	const you = session.value?.sub ?? null
	const phase = phaseOf(a, now.value)
	return (
		<li class={`card ${phase}`} data-auction={a.id}>
			<h3>
				<a href={`/a/${encodeURIComponent(a.id)}`}>{a.title}</a>
			</h3>
			<p class="card-price" aria-live="polite" aria-atomic="true">
				{a.price === null ? (
					<>
						<span class="label">starts at </span>
						{money(a.startingPrice, a.currency)}
					</>
				) : (
					money(a.price, a.currency)
				)}{' '}
				<span class="currency">{a.currency}</span>
			</p>
			<p class="card-leader">
				{phase === 'closed'
					? a.winner !== null
						? a.winner === you
							? 'you won'
							: `sold to ${a.winner}`
						: a.leader === null
							? 'no bids'
							: 'reserve not met'
					: a.leader === null
						? 'no bids yet'
						: a.leader === you
							? 'you are leading'
							: `leader ${a.leader}`}
			</p>
			<p class="card-facts">
				{a.bidCount} {a.bidCount === 1 ? 'bid' : 'bids'} · {a.reserveMet ? 'reserve met (or none)' : 'reserve not met'}
			</p>
			<p class="card-when">
				<Countdown auction={a} />
			</p>
		</li>
	)
}
