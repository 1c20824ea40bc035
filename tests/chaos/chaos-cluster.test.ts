// The short version of `bun run chaos --cluster` (bench/chaos.ts): failover under load on real
// clusters, with the same run and the same checks as the long one (bench/chaos/). Its own Redis
// Cluster (3 primaries + 3 replicas), 3-node NATS cluster (streams on 3 replicas) and two of each
// gavel process, the machine's Postgres through a proxy in a schema of its own; it stops
// everything it started. Each fault kills one of a redundant pair (docs/design.md §6): a Redis
// primary, a NATS node, an api,live instance, an archiver and a closer. It prints each fault's
// time without accepted bids.
import { expect, test } from 'bun:test'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkLines, gapLine, jsonReport, table } from '../../bench/chaos/report.ts'
import { runStack } from '../../bench/chaos/run.ts'

test('cluster stack: every 201 survives a Redis primary, a NATS node, an api,live instance, an archiver and a closer SIGKILLed', async () => {
	const report = await runStack('cluster', {
		secondsPerFault: 3.5,
		rate: 80,
		downMs: 500,
		postgresDownMs: 2_000,
		natsSignal: 'SIGKILL',
		faults: ['redis-primary', 'nats-node', 'api-live', 'archiver+closer'],
		// Short enough that what a killed archiver held is redelivered, and a gap left by a killed api
		// instance is repaired, within the run (the defaults are 30 s and 5 s).
		gavelEnv: { ARCHIVE_ACK_WAIT_MS: '2000', REPAIR_GRACE_MS: '1000' },
		retryForMs: 20_000,
		settleTimeoutMs: 30_000,
		seed: 20_261_215,
		rawWatchers: 4,
		clientWatchers: 2,
		log: () => {},
	})
	console.log(gapLine(report))
	const failed = report.checks.filter((c) => !c.passed)
	if (!report.passed) {
		// Everything the run knows (each violation, the failing auctions' bids and events, gavel's warnings) for whoever reads the failure.
		const file = join(tmpdir(), `chaos-cluster-${Date.now()}.json`)
		await Bun.write(file, JSON.stringify(jsonReport([report], { seed: report.seed }), null, 2))
		console.error(`${table(report)}\n\n${checkLines(report)}\n\nthe run's JSON: ${file}`)
	}
	expect({ passed: report.passed, failed: failed.map((c) => `${c.name}: ${c.violations[0]?.message}`) }).toEqual({ passed: true, failed: [] })
	expect(report.windows.map((w) => w.name)).toEqual(['steady', 'redis-primary', 'nats-node', 'api-live', 'archiver+closer', 'after'])
	expect(report.totals.accepted).toBeGreaterThan(0)

	const window = (name: string) => report.windows.find((w) => w.name === name)!
	// The Redis fault hit a primary that served some of the load's auctions, and they took bids again.
	const redis = window('redis-primary')
	expect(redis.killedSlots?.auctions.length).toBeGreaterThan(0)
	expect(redis.recoveryMs).toBeGreaterThan(0)
	// Every fault's time without accepted bids was measured (not how long: that is a figure, not a test).
	for (const name of ['redis-primary', 'nats-node', 'api-live', 'archiver+closer']) expect(window(name).noAcceptedFromFaultMs).toBeGreaterThanOrEqual(0)
	// The clients of the killed api,live instance moved to the other one and watched on from there.
	for (const name of ['raw-watchers', 'watch-clients']) expect(report.checks.find((c) => c.name === name)!.numbers).toMatch(/reconnects \([1-9][\d,]* to another instance\)/)
}, 150_000)
