import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runChecks, type ArchivedEvent, type CheckResult, type Outage, type Violation } from './checks.ts'
import { natsClusterProblems, probeNatsNode } from '../cluster/nats-cluster.ts'
import { probeRedisNode, redisClusterProblems } from '../cluster/redis-cluster.ts'
import { FAULTS_OF, faultsFor, type Fault } from './faults.ts'
import { createLoad, type AuctionPlan, type BidRecord, type Load } from './load.ts'
import { archiveProgress, natsState, problemLogs, readArchive, readHidden, readListing, readStore, warnings } from './observe.ts'
import { Children } from '../lib/servers.ts'
import { removeDir, startStack, type Stack, type StackKind } from './stack.ts'
import { clientWatcher, rawWatcher, type Watcher } from './watchers.ts'

/**
 * One chaos run of one stack: start it, open the auctions and the watchers, run the bid load,
 * inject the faults one after another (each followed by recovery), let the archive drain and
 * the closers run, then check everything (checks.ts) and attribute each violation to the fault
 * it came under. `bun run chaos` (bench/chaos.ts) and the short version in `bun test`
 * (tests/chaos/chaos.test.ts) both run this, with different lengths.
 */

export interface ChaosOptions {
	/** Length of each fault's window (the fault a quarter in, then recovery, then steady bids). */
	secondsPerFault: number
	/** Bids per second. */
	rate: number
	/** How long a killed process or server stays down. */
	downMs: number
	/** How long Postgres stays away. */
	postgresDownMs: number
	natsSignal: 'SIGKILL' | 'SIGTERM'
	/** A subset of the stack's faults, in its order (default: all). */
	faults?: readonly string[]
	/** Settings for every gavel process (e.g. a shorter ARCHIVE_ACK_WAIT_MS). */
	gavelEnv?: Record<string, string>
	/** How long a bid with an Idempotency-Key is retried before its outcome is left unknown. */
	retryForMs: number
	/** How long the run waits for a recovery, the archive, the closers and the watchers before it checks anyway. */
	settleTimeoutMs: number
	seed: number
	rawWatchers: number
	clientWatchers: number
	/** One progress line. */
	log(line: string): void
}

export interface WindowReport {
	/** `steady` (before the first fault), a fault's name, or `after` (the drain and the checks). */
	name: string
	title: string
	from: number
	to: number
	injectedAt?: number
	restoredAt?: number
	recoveredAt?: number
	/** From the fault to bids accepted again (and the fault's own recovery); null: not within the timeout. */
	recoveryMs?: number | null
	bids201: number
	/** Every other answer to a bid or creation in the window, by status and code ('no answer (…)' for none). */
	non201: Record<string, number>
	/** The longest stretch in the window with no bid answered 201. */
	noAcceptedMs: number
	/** What exactly the fault hit (which node, which instance). */
	target?: string
	/**
	 * The time without accepted bids the fault caused: the longest gap between consecutive 201s
	 * from the last one before the fault until bids flowed again (its recovery; the window's end
	 * when it did not recover).
	 */
	noAcceptedFromFaultMs?: number
	/** A Redis primary killed: the same for the auctions on its slots alone. */
	killedSlots?: { auctions: string[]; noAcceptedFromFaultMs: number }
	/** Violations of each check that happened in this window. */
	failed: Record<string, number>
	error?: string
	/** Not injected: an earlier fault did not recover, and a second one on top would blur what failed. */
	skipped?: string
	/** When the fault did not recover: each process's /readyz and archive metrics at that moment. */
	diagnosis?: Record<string, unknown>
}

export interface StackReport {
	kind: StackKind
	runId: string
	seed: number
	options: Omit<ChaosOptions, 'log'>
	windows: WindowReport[]
	checks: CheckResult[]
	passed: boolean
	totals: { bids: number; accepted: number; refused: number; unknown: number; skipped: number; auctions: number; events: number }
	/** gavel's warnings and errors during the run, per process. */
	logs: ReturnType<typeof warnings>
	/**
	 * For the first auctions a check failed on: everything the run knows of them (the archived
	 * events and every bid the load sent on them, with each attempt), to tell what happened.
	 */
	evidence: Record<string, { events: ArchivedEvent[]; bids: BidRecord[] }>
}

const CLOSE_SLACK_MS = 1_500
const LONG_AFTER_MS = 30 * 60 * 1000
/** What a recovery takes beyond the down time, for the timetable (a process start, a reconnect). */
const RECOVERY_ALLOWANCE_MS = 1_500
/** An auction created during a fault ends this long after the fault: after the creation, which may wait for the component. */
const NEW_AUCTION_ENDS_AFTER_MS = 5_000

/**
 * The run's nominal timetable: a warm-up, then one window per fault, long enough for the fault
 * a quarter in, its down time, a recovery and a quarter of steady bids after it. The run keeps to
 * it where it can (a slow recovery pushes the rest later).
 */
export function timetable(t0: number, windowMs: number, faults: ReadonlyArray<Pick<Fault, 'downMs' | 'recoveryAllowanceMs'>>) {
	const warmupMs = Math.max(2_000, windowMs / 2)
	const starts: number[] = []
	let at = t0 + warmupMs
	for (const fault of faults) {
		starts.push(at)
		at += Math.max(windowMs, windowMs / 2 + fault.downMs + (fault.recoveryAllowanceMs ?? RECOVERY_ALLOWANCE_MS))
	}
	return { warmupEnd: t0 + warmupMs, starts, injects: starts.map((s) => s + windowMs / 4), end: at }
}

/** A fault's name as it goes into auction ids (which take letters, digits, `_` and `-`): archiver+closer → archiver-closer. */
export const idTag = (fault: string) => fault.replace(/[^A-Za-z0-9_-]/g, '-')

/** The auctions of a run, timed against the timetable so some end (or are bought) during each fault. */
export function planAuctions(injects: readonly number[], runEnd: number, faults: readonly string[]): AuctionPlan[] {
	const end = runEnd + LONG_AFTER_MS
	const injectAt = (i: number) => injects[i]!
	const tiers = [
		{ from: 0, step: 100 },
		{ from: 5_000, step: 250 },
		{ from: 20_000, step: 500 },
	]
	const plans: AuctionPlan[] = [
		{ kind: 'long', body: { id: 'long-plain', title: 'Brass lamp', startingPrice: 1_000, increment: 100, endsAt: end } },
		{ kind: 'long', body: { id: 'long-reserve', title: 'Oak desk', startingPrice: 1_000, increment: 100, reservePrice: 4_000, endsAt: end } },
		{ kind: 'long', body: { id: 'long-tiers', title: 'Tea set', startingPrice: 500, increment: tiers, endsAt: end } },
		{ kind: 'long', body: { id: 'long-tiers-reserve', title: 'Clock', startingPrice: 1_000, increment: tiers, reservePrice: 30_000, endsAt: end } },
		{ kind: 'long', body: { id: 'long-soft', title: 'Rug', startingPrice: 2_000, increment: 50, softCloseMs: 2_000, endsAt: end } },
		{ kind: 'long', body: { id: 'long-high-reserve', title: 'Painting', startingPrice: 1_000, increment: 100, reservePrice: 1_000_000, endsAt: end } },
	]
	const buyNowFaults = [0, Math.floor(faults.length / 2)].filter((i, k, all) => i < faults.length && all.indexOf(i) === k)
	for (const i of buyNowFaults)
		plans.push({
			kind: 'buy-now',
			buyNowAt: injectAt(i) + 200,
			body: { id: `buy-now-${idTag(faults[i]!)}`, title: 'Vase', startingPrice: 1_000, increment: 100, reservePrice: 5_000_000, buyNowPrice: 5_000_000, endsAt: end },
		})
	faults.forEach((name, i) => {
		const at = injectAt(i)
		const fault = idTag(name)
		plans.push({ kind: 'ends', body: { id: `ends-${fault}`, title: 'Chair', startingPrice: 1_000, increment: 100, endsAt: Math.round(at + 300) } })
		plans.push({
			kind: 'ends',
			body: { id: `ends-${fault}-soft`, title: 'Mirror', startingPrice: 1_000, increment: 100, softCloseMs: 1_500, endsAt: Math.round(at - 1_500), maxEndsAt: Math.round(at + 1_500) },
		})
		// Created while the component is away, ending once it is back: it must be listed and closed like
		// the others. Its end is set when the fault happens (see NEW_AUCTION_ENDS_AFTER_MS).
		plans.push({ kind: 'ends', createAt: at + 100, body: { id: `new-${fault}`, title: 'Stool', startingPrice: 1_000, increment: 100, endsAt: Math.round(at + NEW_AUCTION_ENDS_AFTER_MS) } })
	})
	return plans
}

const sleepUntil = (t: number) => Bun.sleep(Math.max(0, t - Date.now()))

async function until(predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs
	for (;;) {
		if (await Promise.resolve().then(predicate).catch(() => false)) return true
		if (Date.now() > deadline) return false
		await Bun.sleep(50)
	}
}

export async function runStack(kind: StackKind, options: ChaosOptions, children = new Children()): Promise<StackReport> {
	const { log } = options
	const runId = `chaos_${kind}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`
	const dir = await mkdtemp(join(tmpdir(), 'gavel-chaos-'))
	const forgetDir = children.defer(() => removeDir(dir))
	const all: readonly string[] = FAULTS_OF[kind]
	const names = options.faults ? all.filter((f) => options.faults!.includes(f)) : [...all]
	const what = {
		nats: 'redis-server, nats-server, the Postgres proxy and gavel (api,live · live · archiver · closer)',
		cluster: 'a Redis Cluster (3 primaries + 3 replicas), a 3-node NATS cluster, the Postgres proxy and gavel (2× api,live · 2× archiver · 2× closer)',
		embedded: 'the all-in-one gavel',
	}[kind]
	log(`[${kind}] starting ${what} in ${dir}`)
	let stack: Stack
	try {
		stack = await startStack({ kind, dir, runId, env: options.gavelEnv, children })
	} catch (err) {
		await removeDir(dir)
		forgetDir()
		throw err
	}
	const watchers: Watcher[] = []
	let load: Load | null = null
	try {
		// The Redis primary to kill is chosen when the fault comes, among the auctions open then and for a while.
		const faults = faultsFor(stack, names, { ...options, openAuctions: () => load?.openAuctions(60_000) ?? [] })
		const windowMs = options.secondsPerFault * 1000
		const t0 = Date.now() + 1_000
		const times = timetable(t0, windowMs, faults)
		const plans = planAuctions(times.injects, times.end, names)
		load = await createLoad({ apiUrls: stack.apiUrls, secret: stack.secret, rate: options.rate, retryForMs: options.retryForMs, seed: options.seed })
		for (const plan of plans.filter((p) => p.createAt === undefined)) {
			const c = await load.create(plan)
			if (c.outcome !== 'created') throw new Error(`creating ${plan.body.id} before the traffic failed: ${c.attempts.map((a) => `${a.status ?? ''} ${a.code}`).join(', ')}`)
		}
		const watched = plans.filter((p) => p.createAt === undefined).map((p) => p.body.id)
		const pick = (i: number, count: number) => Array.from({ length: count }, (_, k) => watched[(i * count + k) % watched.length]!).filter((a, k, all) => all.indexOf(a) === k)
		// A watcher's instances in turn: its own, then (cluster) the other live instances behind the same address.
		const route = (homes: readonly string[], i: number) => {
			const home = homes[i % homes.length]!
			return stack.liveGroup.includes(home) ? [home, ...stack.liveGroup.filter((u) => u !== home)] : [home]
		}
		for (let i = 0; i < options.rawWatchers; i++) watchers.push(rawWatcher(`raw-${i + 1}`, route(stack.rawLiveUrls, i), pick(i, 4)))
		for (let i = 0; i < options.clientWatchers; i++) watchers.push(clientWatcher(`watch-${i + 1}`, route(stack.clientLiveUrls, i), pick(i + options.rawWatchers, 4)))
		log(
			`[${kind}] ${plans.length} auctions planned (${watched.length} open now), ${options.rawWatchers} raw watchers on ${stack.rawLiveUrls.join(' and ')}, ${options.clientWatchers} watch() clients on ${stack.clientLiveUrls.join(' and ')}; bids at ${options.rate}/s through ${stack.apiUrls.join(' and ')} (seed ${options.seed})`,
		)

		const windows: WindowReport[] = []
		const outages: Outage[] = []
		await sleepUntil(t0)
		load.start()
		const steadyFrom = Date.now()
		await sleepUntil(times.warmupEnd)
		windows.push(emptyWindow('steady', 'no fault (steady bids)', steadyFrom, Date.now()))
		let stuck: string | null = null
		for (const [i, fault] of faults.entries()) {
			const from = Date.now()
			const w = emptyWindow(fault.name, fault.title, from, from)
			windows.push(w)
			if (stuck) {
				w.skipped = `not injected: ${stuck} did not recover`
				continue
			}
			await sleepUntil(Math.max(from + windowMs / 4, times.injects[i]!))
			log(`[${kind}] fault ${i + 1}/${faults.length}: ${fault.title}`)
			w.injectedAt = Date.now()
			// Watchers that join in the middle of the fault: a first subscribe is the riskiest moment
			// (a process just back, a Redis not rebuilt yet), and a page can be opened at any time.
			const join = (when: string, k: number) => {
				const auctions = pick(options.rawWatchers + options.clientWatchers + 3 * i + k, 3)
				watchers.push(
					k === 1
						? clientWatcher(`watch-joined-${when}-${fault.name}`, route(stack.clientLiveUrls, i), auctions)
						: rawWatcher(`raw-joined-${when}-${fault.name}`, route(stack.rawLiveUrls, i + k), auctions),
				)
			}
			try {
				await fault.inject()
				w.target = fault.target
				if (fault.target) log(`[${kind}]   hit ${fault.target}`)
				join('during', 0)
				for (const plan of plans.filter((p) => p.createAt !== undefined && p.body.id === `new-${idTag(fault.name)}`)) {
					plan.body.endsAt = Date.now() + NEW_AUCTION_ENDS_AFTER_MS // the timetable may have slipped
					load.createLater(plan)
				}
				await Bun.sleep(fault.downMs)
				await fault.restore()
				w.restoredAt = Date.now()
				join('after', 1)
				join('after', 2)
				const recovered = await waitForRecovery(fault, w.restoredAt, load, watchers, stack, options.settleTimeoutMs)
				w.recoveredAt = recovered ? Date.now() : undefined
				w.recoveryMs = recovered ? w.recoveredAt! - w.injectedAt : null
				if (!recovered) {
					stuck = fault.name
					w.diagnosis = await diagnose(stack)
				}
				log(`[${kind}]   ${recovered ? `recovered in ${w.recoveryMs} ms` : `NOT recovered within ${options.settleTimeoutMs} ms`} (down ${fault.downMs} ms)`)
			} catch (err) {
				w.error = err instanceof Error ? err.message : String(err)
				stuck = fault.name
				log(`[${kind}]   the fault failed: ${w.error}`)
			}
			outages.push({ fault: fault.name, from: w.injectedAt, to: w.recoveredAt ?? Date.now() })
			await sleepUntil(Math.max(times.starts[i + 1] ?? times.end, from + windowMs, (w.recoveredAt ?? Date.now()) + windowMs / 4))
			w.to = Date.now()
			if (fault.affected) w.killedSlots = { auctions: [...fault.affected], noAcceptedFromFaultMs: 0 }
		}

		log(`[${kind}] traffic stops; waiting for the answers still owed, the archive and the closers`)
		await load.stop()
		const after = emptyWindow('after', 'after the traffic: the state at the end', Date.now(), Date.now())
		const ids = load.creations.filter((c) => c.outcome !== 'failed').map((c) => c.plan.body.id)
		const settled = await settle(stack, plans, ids, watchers, options.settleTimeoutMs)
		if (!settled.ok) log(`[${kind}]   not settled within ${options.settleTimeoutMs} ms: ${settled.waitingFor}`)
		const checkedAt = Date.now()
		const [archive, store, listed, hidden, nats] = await Promise.all([
			readArchive(stack),
			readStore(stack.apiUrl, ids),
			readListing(stack.apiUrl),
			readHidden(stack, ids),
			natsState(stack),
		])
		const checks = runChecks({
			plans,
			creations: load.creations,
			bids: load.records,
			attempts: load.attempts,
			archive: archive.events,
			states: archive.states,
			store,
			listed,
			hidden,
			watchers: watchers.map((w) => w.record),
			outages,
			deadLetters: nats?.deadLetters ?? null,
			problemLogs: problemLogs(stack),
			checkedAt,
			closeSlackMs: CLOSE_SLACK_MS,
		})
		after.to = Date.now()
		windows.push(after)
		fillWindows(windows, load, checks)
		const records = load.records
		const { log: _log, ...settings } = options
		return {
			kind,
			runId,
			seed: options.seed,
			options: settings,
			windows,
			checks,
			passed: checks.every((c) => c.passed) && windows.every((w) => !w.error && !w.skipped && w.recoveryMs !== null),
			totals: {
				bids: records.length,
				accepted: records.filter((r) => r.outcome === 'accepted').length,
				refused: records.filter((r) => r.outcome === 'refused').length,
				unknown: records.filter((r) => r.outcome === 'unknown').length,
				skipped: load.skipped,
				auctions: archive.events.size,
				events: [...archive.events.values()].reduce((s, e) => s + e.length, 0),
			},
			logs: warnings(stack),
			evidence: evidenceFor(checks, archive.events, load.records),
		}
	} finally {
		for (const w of watchers) w.close()
		await load?.stop().catch(() => {})
		await stack.stop()
		await removeDir(dir)
		forgetDir()
	}
}

const EVIDENCE_AUCTIONS = 3

function evidenceFor(checks: CheckResult[], archive: Map<string, ArchivedEvent[]>, bids: readonly BidRecord[]): StackReport['evidence'] {
	const auctions = [...new Set(checks.flatMap((c) => c.violations.flatMap((v) => (v.auction ? [v.auction] : []))))].slice(0, EVIDENCE_AUCTIONS)
	return Object.fromEntries(auctions.map((id) => [id, { events: archive.get(id) ?? [], bids: bids.filter((b) => b.auction === id) }]))
}

/** What each process says about itself: /readyz, and its archive and bus metrics (what a person would look at first). */
async function diagnose(stack: Stack): Promise<Record<string, unknown>> {
	const out: Record<string, unknown> = {}
	for (const [name, p] of stack.processes) {
		const get = (path: string) =>
			fetch(`${p.url}${path}`, { signal: AbortSignal.timeout(3_000) })
				.then((r) => r.text())
				.catch((err: unknown) => `no answer: ${(err as Error).message}`)
		const metrics = await get('/metrics')
		out[name] = {
			readyz: await get('/readyz'),
			metrics: metrics.split('\n').filter((l) => /^gavel_(archive|bus)_/.test(l)),
		}
	}
	out.nats = await natsState(stack).catch((err: unknown) => `no answer: ${(err as Error).message}`)
	// The clusters as their launchers judge them (a killed node still down shows as not answering).
	const { redisCluster: redis, natsCluster: nats } = stack
	if (redis) out.redisCluster = redisClusterProblems(await Promise.all(redis.nodes.map((n) => probeRedisNode(n.port))), (port) => redis.nodes.find((n) => n.port === port)?.name ?? String(port))
	if (nats) out.natsCluster = natsClusterProblems(await Promise.all(nats.nodes.map((n) => probeNatsNode(n.monitorPort))), (port) => nats.nodes.find((n) => n.monitorPort === port)?.name ?? String(port))
	return out
}

const emptyWindow = (name: string, title: string, from: number, to: number): WindowReport => ({ name, title, from, to, bids201: 0, non201: {}, noAcceptedMs: 0, failed: {} })

/** Waits until bids are accepted again (a bid sent after the restore got a 201) and the fault's own part is back. */
async function waitForRecovery(fault: Fault, restoredAt: number, load: Load, watchers: Watcher[], stack: Stack, timeoutMs: number): Promise<boolean> {
	const acceptedSince = (test: (r: Load['records'][number]) => boolean) => until(() => load.records.some((r) => r.sentAt >= restoredAt && r.outcome === 'accepted' && test(r)), timeoutMs)
	if (!(await acceptedSince(() => true))) return false
	// The killed api instance is back in the balance: it answered a bid 201 itself.
	if (fault.recovery === 'instance') return acceptedSince((r) => r.attempts.at(-1)?.via === fault.instance)
	// Bids flow again on the killed Redis primary's slots (on its promoted replica).
	if (fault.recovery === 'affected') return !fault.affected?.length || acceptedSince((r) => fault.affected!.includes(r.auction))
	if (fault.recovery === 'watchers') {
		// Every raw watcher on the restarted process has heard something since: it is back on it.
		const raw = watchers.filter((w) => w.record.kind === 'raw')
		return until(() => raw.every((w) => [...w.record.received.values()].some((list) => list.some((e) => e.at >= restoredAt))), timeoutMs)
	}
	if (fault.recovery === 'archive') {
		// The archive takes events again: one committed after the restore reaches it.
		const first = load.records.find((r) => r.sentAt >= restoredAt && r.outcome === 'accepted' && r.answer?.bid)
		if (!first) return true
		const { auction, seq } = first.answer!.bid!
		return until(async () => ((await archiveProgress(stack)).get(auction)?.seq ?? -1) >= seq, timeoutMs)
	}
	return true
}

/**
 * After the traffic: waits until the closers closed what came due, the archive holds every seq
 * the store handed out (and, on NATS, the archivers' consumer has nothing pending), and every
 * watcher has every event. Bounded: past the timeout the checks run anyway and say what is missing.
 */
async function settle(stack: Stack, plans: AuctionPlan[], ids: string[], watchers: Watcher[], timeoutMs: number): Promise<{ ok: boolean; waitingFor: string }> {
	const deadline = Date.now() + timeoutMs
	let waitingFor = ''
	const dueBy = Math.max(...plans.filter((p) => p.kind === 'ends').map((p) => p.body.maxEndsAt ?? p.body.endsAt), 0)
	await sleepUntil(Math.min(deadline, dueBy + CLOSE_SLACK_MS))
	const ok = await until(async () => {
		const store = await readStore(stack.apiUrl, ids)
		const unreadable = ids.filter((id) => store.get(id)?.status !== 200)
		if (unreadable.length) return (waitingFor = `auctions not readable: ${unreadable.join(', ')}`), false
		const archived = await archiveProgress(stack)
		const behind = ids.filter((id) => (archived.get(id)?.seq ?? -1) < store.get(id)!.view!.seq)
		if (behind.length) return (waitingFor = `archive behind the store on ${behind.join(', ')}`), false
		const now = Date.now()
		const unclosed = ids.filter((id) => store.get(id)!.view!.endsAt + CLOSE_SLACK_MS < now && !archived.get(id)?.closed)
		if (unclosed.length) return (waitingFor = `not closed past their end: ${unclosed.join(', ')}`), false
		const nats = await natsState(stack)
		if (nats && nats.pending !== 0) return (waitingFor = `${nats.pending} messages not yet archived`), false
		const lagging = watchers.filter((w) => w.record.auctions.some((a) => !w.ended(a) && w.last(a) < (archived.get(a)?.seq ?? 0)))
		if (lagging.length) return (waitingFor = `watchers behind: ${lagging.map((w) => w.record.name).join(', ')}`), false
		return true
	}, Math.max(0, deadline - Date.now()))
	return { ok, waitingFor }
}

/**
 * The time without accepted bids a fault caused: the longest gap between consecutive 201 times
 * (sorted) from the last one before `from` (the injection) until the first one at or after
 * `until` (bids flowing again), each end standing in where there is no such 201.
 */
export function longestGap(times: readonly number[], from: number, until: number): number {
	let previous = from
	for (const t of times) if (t < from) previous = t
	let longest = 0
	for (const t of times) {
		if (t < from) continue
		longest = Math.max(longest, t - previous)
		previous = t
		if (t >= until) return longest
	}
	return Math.max(longest, until - previous)
}

/** Fills each window's answers, the longest stretch without a 201, the time without one a fault caused, and the violations that happened in it. */
function fillWindows(windows: WindowReport[], load: Load, checks: CheckResult[]) {
	const accepted = load.acceptedTimes()
	const answers = load.records.filter((r) => r.outcome === 'accepted' && r.answeredAt !== undefined).sort((a, b) => a.answeredAt! - b.answeredAt!)
	for (const w of windows) {
		for (const a of load.attempts) {
			if (a.at < w.from || a.at >= w.to) continue
			if (a.status === 201) {
				if (a.what === 'bid') w.bids201++
				continue
			}
			const key = a.status === null ? `no answer (${a.code})` : `${a.status} ${a.code}`
			w.non201[key] = (w.non201[key] ?? 0) + 1
		}
		if (w.name === 'after') continue
		const inside = accepted.filter((t) => t >= w.from && t < w.to)
		let last = w.from
		let longest = 0
		for (const t of [...inside, w.to]) {
			longest = Math.max(longest, t - last)
			last = t
		}
		w.noAcceptedMs = longest
		if (w.injectedAt === undefined) continue
		const until = w.recoveredAt ?? w.to
		w.noAcceptedFromFaultMs = longestGap(accepted, w.injectedAt, until)
		if (w.killedSlots) {
			const on = new Set(w.killedSlots.auctions)
			w.killedSlots.noAcceptedFromFaultMs = longestGap(answers.filter((r) => on.has(r.auction)).map((r) => r.answeredAt!), w.injectedAt, until)
		}
	}
	const windowOf = (v: Violation) => (v.at === null ? windows.at(-1)! : (windows.find((w) => v.at! >= w.from && v.at! < w.to) ?? (v.at < windows[0]!.from ? windows[0]! : windows.at(-1)!)))
	for (const check of checks)
		for (const v of check.violations) {
			const w = windowOf(v)
			w.failed[check.name] = (w.failed[check.name] ?? 0) + 1
		}
}
