#!/usr/bin/env bun
// bench/store-limits.ts: what one request costs the Redis BidStore, for two things an anonymous or
// any token holder can repeat: listing auctions by status, and bids with a fresh Idempotency-Key.
//
//   bun bench/store-limits.ts [--auctions 600] [--bids 200] [--rounds 20] [--json]
//
// Needs Redis on loopback (TEST_REDIS_URL overrides); uses a key prefix of its own and deletes it.
//   listing:     --auctions auctions (the 5 oldest ended, the 10 newest not started, the rest open);
//                per request shape: commands sent, round trips (a command sent after a reply
//                arrived starts one) and the median time over --rounds requests; once before
//                and once after a closer has closed the 5.
//   idempotency: one bidder re-sends a bid that changes nothing (the leader), then two bidders
//                outbid each other, --bids times each with a fresh key; MEMORY USAGE of every
//                idempotency key of the auction, per record kept and in total.
import { parseArgs } from 'node:util'
import { createRedisBidStore } from '../src/adapters/redis/bid-store.ts'
import { newAuction } from '../src/domain/new-auction.ts'
import { auctionCreated } from '../src/events.ts'
import type { AuctionStatus } from '../src/domain/auction.ts'
import type { BidStore } from '../src/ports/bid-store.ts'
import { connectRedis, deleteKeys, uniqueName } from '../tests/helpers/services.ts'
import { countRedisTraffic } from '../tests/helpers/redis-traffic.ts'

const { values } = parseArgs({
	args: Bun.argv.slice(2),
	options: {
		auctions: { type: 'string', default: '600' },
		bids: { type: 'string', default: '200' },
		rounds: { type: 'string', default: '20' },
		json: { type: 'boolean', default: false },
	},
})
const AUCTIONS = Number(values.auctions)
const BIDS = Number(values.bids)
const ROUNDS = Number(values.rounds)
const T0 = Date.now()
let clock = T0
const now = () => clock

const redis = await connectRedis()
const prefix = uniqueName('gbench')
const store: BidStore = createRedisBidStore({ redis, prefix, now })
const result: Record<string, unknown> = { auctions: AUCTIONS, bids: BIDS, rounds: ROUNDS }

async function create(i: number, overrides: { startsAt?: number; endsAt: number }) {
	clock = T0 + i
	const record = newAuction(
		{ title: 'Brass lamp, 1920s, in working order', startingPrice: 1000, increment: 100, softCloseMs: 30_000, ...overrides },
		'seller-7d1e0c2a-5b7f-4e8a-9c1d-2f3a4b5c6d7e',
		clock,
	)
	await store.createAuction(record, JSON.stringify(auctionCreated(record)))
	return record.id
}

try {
	// Listing.
	for (let i = 0; i < AUCTIONS; i++) {
		const early = i < 5
		const scheduled = i >= AUCTIONS - 10
		await create(i, { startsAt: scheduled ? T0 + 3_600_000 : undefined, endsAt: T0 + (early ? 10_000 : 7_200_000) })
	}
	clock = T0 + 20_000
	const traffic = countRedisTraffic(redis)
	const shapes: Array<{ status?: AuctionStatus; limit: number }> = [
		{ limit: 1 },
		{ limit: 50 },
		{ status: 'closed', limit: 1 },
		{ status: 'closed', limit: 50 },
		{ status: 'open', limit: 1 },
		{ status: 'open', limit: 50 },
		{ status: 'scheduled', limit: 50 },
	]
	const listing: Array<{ when: string; request: string; items: number; commands: number; roundTrips: number; medianMs: number }> = []
	const measure = async (when: string) => {
		for (const shape of shapes) {
			const times: number[] = []
			let commands = 0
			let roundTrips = 0
			let items = 0
			for (let r = 0; r < ROUNDS; r++) {
				traffic.reset()
				const started = performance.now()
				const page = await store.listAuctions(shape)
				times.push(performance.now() - started)
				commands = traffic.commands.length
				roundTrips = traffic.roundTrips
				items = page.items.length
			}
			times.sort((a, b) => a - b)
			const row = { when, request: `?${shape.status ? `status=${shape.status}&` : ''}limit=${shape.limit}`, items, commands, roundTrips, medianMs: Number(times[times.length >> 1]!.toFixed(2)) }
			listing.push(row)
			if (!values.json) console.log(`listing ${row.request.padEnd(26)} ${String(row.items).padStart(3)} items · ${String(row.commands).padStart(5)} commands · ${String(row.roundTrips).padStart(4)} round trips · ${row.medianMs} ms  (${when})`)
		}
	}
	await measure('5 ended, no closer yet')
	for (const id of await store.dueAuctions(100)) await store.closeAuction(id)
	await measure('closed by the closer')
	traffic.stop()
	result.listing = listing

	// Idempotency records.
	clock = T0 + 30_000
	const auction = await create(AUCTIONS, { endsAt: T0 + 7_200_000 })
	clock = T0 + 40_000
	const bidder = (n: number) => `user-${n}-3f6c1a9e-8b2d-4c7e-a1f0-9d8e7c6b5a4f`
	const idemBytes = async () => {
		let bytes = 0
		let keys = 0
		let records = 0 // a string per record (one key each), or a hash of records
		let cursor = '0'
		do {
			const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:{${auction}}:idem*`, 'COUNT', 1000)
			cursor = next
			for (const key of found) {
				bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', 0))
				keys++
				const type = await redis.type(key)
				if (type === 'string') records++
				if (type === 'hash') records += await redis.hlen(key)
			}
		} while (cursor !== '0')
		return { bytes, keys, records }
	}
	let accepted = 0
	const place = async (who: string, amount: number) => {
		try {
			await store.placeBid({ auction, bidder: who, amount, idempotencyKey: crypto.randomUUID() })
			accepted++
		} catch {}
	}
	await place(bidder(0), 1000)
	for (let i = 0; i < BIDS; i++) await place(bidder(0), 1100) // the leader at the minimum: nothing public changes
	const quiet = await idemBytes()
	const quietAccepted = accepted
	for (let i = 0; i < BIDS; i++) await place(bidder(1 + (i % 2)), 1200 + i * 100) // a bidding war: each bid public
	const all = await idemBytes()
	const publicRecords = all.records - quiet.records
	const idempotency = {
		noChangeResends: { accepted: quietAccepted, records: quiet.records, keys: quiet.keys, bytes: quiet.bytes, bytesPerRecord: Math.round(quiet.bytes / quiet.records) },
		publicBids: { accepted: accepted - quietAccepted, records: publicRecords, bytesPerRecord: Math.round((all.bytes - quiet.bytes) / publicRecords) },
		total: { accepted, records: all.records, keys: all.keys, bytes: all.bytes },
	}
	result.idempotency = idempotency
	if (!values.json) {
		const q = idempotency.noChangeResends
		const p = idempotency.publicBids
		console.log(`idempotency: the leader re-sending a no-change bid: ${q.accepted} accepted, ${q.records} records kept in ${q.keys} keys, ${q.bytes} bytes (${q.bytesPerRecord} per record)`)
		console.log(`idempotency: two bidders outbidding each other: ${p.accepted} accepted, ${p.records} records kept, ${p.bytesPerRecord} bytes per record`)
		console.log(`idempotency: the auction holds ${all.records} records in ${all.keys} keys, ${all.bytes} bytes, for ${accepted} accepted keyed bids of 3 bidders`)
	}
	if (values.json) console.log(JSON.stringify(result))
} finally {
	await deleteKeys(redis, prefix)
	await redis.quit()
}
