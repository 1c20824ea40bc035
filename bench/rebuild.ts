#!/usr/bin/env bun
// bench/rebuild.ts: how long a lost store takes to come back from the log (docs/design.md §6).
//
//   bun bench/rebuild.ts [--auctions 10000] [--bids 5] [--stack redis|embedded|both] [--json]
//
// It fills an archive (Postgres in a schema of its own for `redis`, a SQLite file in a temp dir for
// `embedded`) with N open auctions as gavel would have written them: each created, then `--bids`
// bids (a proxy maximum, an Idempotency-Key on every bid), their events and state records. Then it
// rebuilds an empty store from it with the rebuilder gavel runs (src/archive/rebuild.ts) and prints
// the time, the rate, and a check that every auction came back with its seq and hidden maximum.
// Needs Redis and Postgres on loopback for `redis`; it deletes what it made.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createMemoryBidStore } from '../src/adapters/memory/bid-store.ts'
import { createRedisBidStore } from '../src/adapters/redis/bid-store.ts'
import { createPostgresArchive } from '../src/adapters/postgres/archive.ts'
import { createSqliteArchive } from '../src/adapters/sqlite/archive.ts'
import { createRebuilder } from '../src/archive/rebuild.ts'
import { newAuction } from '../src/domain/new-auction.ts'
import { parseStateRecord, stateRecordJson } from '../src/domain/state-record.ts'
import { auctionCreated, type GavelEvent } from '../src/events.ts'
import { silentLogger } from '../src/observability/log.ts'
import { createMetrics } from '../src/observability/metrics.ts'
import type { Archive, ArchiveEvent, ArchiveState } from '../src/ports/archive.ts'
import type { BidStore } from '../src/ports/bid-store.ts'
import { DEFAULT_EVENTS_KEPT, DEFAULT_IDEMPOTENCY_TTL_MS } from '../src/config.ts'
import { connectRedis, createTestSchema, deleteKeys, uniqueName } from '../tests/helpers/services.ts'
import { machine } from './lib/machine.ts'

const { values } = parseArgs({
	args: Bun.argv.slice(2),
	options: {
		auctions: { type: 'string', default: '10000' },
		bids: { type: 'string', default: '5' },
		stack: { type: 'string', default: 'both' },
		json: { type: 'boolean', default: false },
	},
})
const AUCTIONS = Number(values.auctions)
const BIDS = Number(values.bids)
const say = (line: string) => {
	if (!values.json) console.error(line)
}

/** Writes N auctions with their events and state records into `archive`, as the archiver would. */
async function fill(archive: Archive & { migrate(): Promise<unknown> }) {
	await archive.migrate()
	// A memory store makes the commits (the same rules and records as Redis), the archive keeps them.
	const source = createMemoryBidStore()
	const started = performance.now()
	let events: ArchiveEvent[] = []
	let states: ArchiveState[] = []
	const flush = async () => {
		await archive.write(events)
		await archive.writeStates(states)
		events = []
		states = []
	}
	const keep = (jsons: readonly string[]) => {
		for (const json of jsons) events.push({ event: JSON.parse(json) as GavelEvent, json })
	}
	const keepState = (json: string | null) => {
		if (json) states.push({ state: parseStateRecord(json), json })
	}
	for (let i = 0; i < AUCTIONS; i++) {
		const record = newAuction({ title: `Lot ${i}: brass lamp`, startingPrice: 1000, increment: 100, reservePrice: 1500, endsAt: Date.now() + 86_400_000 }, 'sam', Date.now())
		const created = JSON.stringify(auctionCreated(record))
		await source.createAuction(record, created)
		keep([created])
		keepState(stateRecordJson(record, 0, record.createdAt))
		for (let b = 0; b < BIDS; b++) {
			// Rising amounts from bidders taking turns: each bid is accepted and leaves a hidden maximum.
			const placed = await source.placeBid({ auction: record.id, bidder: `bidder${b % 3}`, amount: 1000 + 300 * b, maxAmount: 1000 + 300 * b + 250, idempotencyKey: `k${b}` })
			keep(placed.events)
			keepState(placed.state)
		}
		if (events.length >= 2_000) await flush()
	}
	await flush()
	await source.close()
	return { source, ms: Math.round(performance.now() - started) }
}

/** Rebuilds `store` from `archive` and checks every auction against the store the commits came from. */
async function rebuild(name: string, store: BidStore, archive: Archive, closedKeptMs: number) {
	const rebuilder = createRebuilder({ store, archive, log: silentLogger(), metrics: createMetrics(), eventsKept: DEFAULT_EVENTS_KEPT, idempotencyTtlMs: DEFAULT_IDEMPOTENCY_TTL_MS, closedKeptMs })
	const started = performance.now()
	const result = await rebuilder.ensure()
	const ms = performance.now() - started
	// Every auction is back: its seq, and its leader's hidden maximum still answers a challenger.
	const page = await store.listAuctions({ status: 'open', limit: 200 })
	let checked = 0
	for (const view of page.items) {
		// Each leader's hidden maximum is 250 above their bid: a challenger 100 above the price loses to it.
		const challenge = await store.placeBid({ auction: view.id, bidder: 'challenger', amount: view.price! + 100 })
		if (!challenge.leading) checked++
	}
	const row = {
		stack: name,
		auctions: AUCTIONS,
		restored: result?.restored ?? 0,
		ms: Math.round(ms),
		auctionsPerSecond: Math.round(((result?.restored ?? 0) / ms) * 1000),
		sampled: page.items.length,
		hiddenMaximaAnswered: checked,
	}
	say(`${name}: ${row.restored.toLocaleString('en')} auctions rebuilt in ${row.ms.toLocaleString('en')} ms (${row.auctionsPerSecond.toLocaleString('en')}/s); ${checked} of ${page.items.length} sampled answered a challenger with the leader's hidden maximum`)
	return row
}

const rows: Array<Record<string, unknown>> = []
const stacks = values.stack === 'both' ? ['embedded', 'redis'] : [values.stack!]
say(`rebuild: ${AUCTIONS.toLocaleString('en')} open auctions, ${BIDS} bids each (proxy maxima, Idempotency-Keys)`)

if (stacks.includes('embedded')) {
	const dir = await mkdtemp(join(tmpdir(), 'gavel-rebuild-'))
	const archive = createSqliteArchive({ path: join(dir, 'archive.sqlite') })
	try {
		const filled = await fill(archive)
		say(`embedded: archive filled in ${filled.ms.toLocaleString('en')} ms`)
		rows.push(await rebuild('embedded (SQLite → memory store)', createMemoryBidStore(), archive, Number.MAX_SAFE_INTEGER))
	} finally {
		await archive.close()
		await rm(dir, { recursive: true, force: true })
	}
}

if (stacks.includes('redis')) {
	const schema = await createTestSchema()
	const archive = createPostgresArchive({ url: schema.url, max: 4 })
	const redis = await connectRedis()
	const prefix = uniqueName('gbench')
	try {
		const filled = await fill(archive)
		say(`redis: archive filled in ${filled.ms.toLocaleString('en')} ms`)
		rows.push(await rebuild('Redis (Postgres → Redis)', createRedisBidStore({ redis, prefix }), archive, DEFAULT_IDEMPOTENCY_TTL_MS))
	} finally {
		await deleteKeys(redis, prefix)
		await redis.quit()
		await archive.close()
		await schema.drop()
	}
}

const result = { at: new Date().toISOString(), machine: await machine(), rows }
const file = new URL(`results/rebuild-${Date.now()}.json`, import.meta.url)
await Bun.write(file, JSON.stringify(result, null, 2))
if (values.json) console.log(JSON.stringify(result))
else {
	console.log('\n| stack | auctions | rebuild ms | auctions/s |\n|---|---|---|---|')
	for (const r of rows) console.log(`| ${r.stack} | ${Number(r.restored).toLocaleString('en')} | ${Number(r.ms).toLocaleString('en')} | ${Number(r.auctionsPerSecond).toLocaleString('en')} |`)
	console.error(`\nwritten to ${file.pathname}`)
}
