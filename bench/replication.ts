#!/usr/bin/env bun
// bench/replication.ts: what Redis Cluster mode and the replication wait cost per bid (docs/design.md §6).
//
//   bun bench/replication.ts [--seconds 5] [--concurrency 100] [--rounds 2] [--json]
//
// One store-level workload, the Redis BidStore's placeBid with every bid accepted (100 auctions,
// each bidder raising its own), run against: one redis-server without replicas (REDIS_URL), a
// local Redis Cluster of 3 primaries + 3 replicas without the wait (REDIS_WAIT_REPLICAS=0), and the
// same cluster with it (=1, the cluster default). Configurations alternate, `--rounds` times, so
// the machine's drift hits them alike. Prints accepted bids/s, P50/P99 of placeBid, the CPU of
// every redis-server per bid, and how many bids one WAIT round covered. It starts its own servers
// on free loopback ports (never the shared 6379) and stops them by pid.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Cluster, Redis } from 'ioredis'
import { createRedisBidStore } from '../src/adapters/redis/bid-store.ts'
import { connectRedis, type RedisConnection } from '../src/adapters/redis/connect.ts'
import { newAuction } from '../src/domain/new-auction.ts'
import { auctionCreated } from '../src/events.ts'
import { silentLogger } from '../src/observability/log.ts'
import { startRedisCluster } from './cluster/redis-cluster.ts'
import { startRedis } from './chaos/services.ts'
import { Children } from './lib/servers.ts'
import { cpuSeconds, progress, progressDone } from './lib/proc.ts'
import { machine } from './lib/machine.ts'

const { values } = parseArgs({
	args: Bun.argv.slice(2),
	options: {
		seconds: { type: 'string', default: '5' },
		concurrency: { type: 'string', default: '100' },
		rounds: { type: 'string', default: '2' },
		json: { type: 'boolean', default: false },
	},
})
const SECONDS = Number(values.seconds)
const CONCURRENCY = Number(values.concurrency)
const ROUNDS = Number(values.rounds)
for (const [name, n] of [['--seconds', SECONDS], ['--concurrency', CONCURRENCY], ['--rounds', ROUNDS]] as const)
	if (!Number.isInteger(n) || n < 1) {
		console.error(`${name} must be a positive whole number`)
		process.exit(2)
	}

interface Result {
	config: string
	bids: number
	bidsPerSecond: number
	p50Us: number
	p99Us: number
	redisCpuUsPerBid: number
	bidsPerWaitRound: number | null
}

const children = new Children()
const dir = await mkdtemp(join(tmpdir(), 'gavel-bench-replication-'))
const interrupted = async () => {
	await children.abort()
	await rm(dir, { recursive: true, force: true })
	process.exit(130)
}
process.on('SIGINT', interrupted)

async function main() {
	progress('starting one redis-server and a Redis Cluster (3 primaries, 3 replicas) …')
	await mkdir(join(dir, 'single'))
	const single = await startRedis(join(dir, 'single'), children)
	const cluster = await startRedisCluster({ dir: join(dir, 'cluster'), children })
	const clusterPids = cluster.nodes.map((n) => n.pid!).filter(Boolean)
	const configs: Array<{ name: string; pids: number[]; open: () => Promise<RedisConnection> }> = [
		{ name: 'one node', pids: [single.pid!], open: () => connectRedis({ url: single.url, waitTimeoutMs: 250, log: silentLogger() }) },
		{ name: 'cluster, no wait', pids: clusterPids, open: () => connectRedis({ clusterNodes: cluster.seeds, waitReplicas: 0, waitTimeoutMs: 250, log: silentLogger() }) },
		{ name: 'cluster, WAIT 1', pids: clusterPids, open: () => connectRedis({ clusterNodes: cluster.seeds, waitReplicas: 1, waitTimeoutMs: 250, log: silentLogger() }) },
	]
	const runs = new Map<string, Result[]>()
	for (let round = 1; round <= ROUNDS; round++)
		for (const config of configs) {
			const result = await run(config.name, config.pids, await config.open(), `${round}/${ROUNDS}`)
			runs.set(config.name, [...(runs.get(config.name) ?? []), result])
		}
	const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
	const results = [...runs].map(([config, rs]) => ({
		config,
		bids: Math.round(mean(rs.map((r) => r.bids))),
		bidsPerSecond: Math.round(mean(rs.map((r) => r.bidsPerSecond))),
		p50Us: Math.round(mean(rs.map((r) => r.p50Us))),
		p99Us: Math.round(mean(rs.map((r) => r.p99Us))),
		redisCpuUsPerBid: Math.round(mean(rs.map((r) => r.redisCpuUsPerBid)) * 10) / 10,
		bidsPerWaitRound: rs[0]!.bidsPerWaitRound === null ? null : Math.round(mean(rs.map((r) => r.bidsPerWaitRound!)) * 10) / 10,
	}))
	progressDone()
	const report = { at: new Date().toISOString(), machine: await machine(), seconds: SECONDS, concurrency: CONCURRENCY, rounds: ROUNDS, results }
	if (values.json) console.log(JSON.stringify(report))
	else {
		console.log(`\nplaceBid, every bid accepted, ${CONCURRENCY} in flight, ${SECONDS} s × ${ROUNDS} rounds each (means)\n`)
		console.log('| store | accepted bids/s | P50 | P99 | redis-server CPU per bid | bids per WAIT round |')
		console.log('|---|---|---|---|---|---|')
		for (const r of results)
			console.log(`| ${r.config} | ${r.bidsPerSecond.toLocaleString('en')} | ${(r.p50Us / 1000).toFixed(2)} ms | ${(r.p99Us / 1000).toFixed(2)} ms | ${r.redisCpuUsPerBid} µs | ${r.bidsPerWaitRound ?? '–'} |`)
		const file = join(import.meta.dir, 'results', `replication-${report.at.replaceAll(':', '-')}.json`)
		await mkdir(join(import.meta.dir, 'results'), { recursive: true })
		await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
		console.log(`\nwritten to ${file}`)
	}
}

/** WAIT calls each primary has served, from INFO commandstats. */
async function waitCalls(client: Redis | Cluster): Promise<number> {
	const nodes = 'nodes' in client ? client.nodes('master') : [client]
	const stats = await Promise.all(nodes.map((n) => n.info('commandstats')))
	return stats.reduce((sum, s) => sum + Number(/cmdstat_wait:calls=(\d+)/.exec(s)?.[1] ?? 0), 0)
}

async function run(config: string, pids: number[], redis: RedisConnection, round: string): Promise<Result> {
	const prefix = `bench${Date.now().toString(36)}`
	const store = createRedisBidStore({ redis: redis.client, replication: redis.replication, prefix, eventsKept: 100 })
	try {
		const now = Date.now()
		const ids = await Promise.all(
			Array.from({ length: CONCURRENCY }, async (_, i) => {
				const record = newAuction({ id: `${prefix}-${i}`, title: 'Bench', startingPrice: 100, increment: 1, startsAt: now, endsAt: now + 3_600_000 }, 'seller', now)
				await store.createAuction(record, JSON.stringify(auctionCreated(record)))
				return record.id
			}),
		)
		const waitsBefore = await waitCalls(redis.client)
		const cpuBefore = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
		const latencies: number[] = []
		const deadline = performance.now() + SECONDS * 1000
		const started = performance.now()
		const ticker = setInterval(() => progress(`${config} (round ${round}): ${latencies.length.toLocaleString('en')} bids`), 500)
		await Promise.all(
			ids.map(async (auction, i) => {
				// Two bidders take turns on each auction, so every bid raises the price and is accepted.
				for (let n = 1; performance.now() < deadline; n++) {
					const t0 = performance.now()
					await store.placeBid({ auction, bidder: n % 2 === 0 ? `b${i}` : `c${i}`, amount: 100 + n })
					latencies.push(performance.now() - t0)
				}
			}),
		)
		clearInterval(ticker)
		const seconds = (performance.now() - started) / 1000
		const cpu = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuBefore
		const waits = (await waitCalls(redis.client)) - waitsBefore
		latencies.sort((a, b) => a - b)
		const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 1000
		return {
			config,
			bids: latencies.length,
			bidsPerSecond: latencies.length / seconds,
			p50Us: at(0.5),
			p99Us: at(0.99),
			redisCpuUsPerBid: (cpu * 1e6) / latencies.length,
			bidsPerWaitRound: redis.replication ? latencies.length / Math.max(1, waits) : null,
		}
	} finally {
		await redis.close()
	}
}

try {
	await main()
} finally {
	await children.abort()
	await rm(dir, { recursive: true, force: true })
}
