// The short version of `bun run chaos` (bench/chaos.ts): the same run and the same checks
// (bench/chaos/), a couple of seconds per fault, so the durability promise of docs/design.md §6
// is held on every test run. It starts its own redis-server and nats-server and uses the
// machine's Postgres through a proxy, in a schema of its own; it stops everything it started.
import { expect, test } from 'bun:test'
import { checkLines, table } from '../../bench/chaos/report.ts'
import { runStack, type ChaosOptions, type StackReport } from '../../bench/chaos/run.ts'

const short: Omit<ChaosOptions, 'faults'> = {
	secondsPerFault: 2.5,
	rate: 100,
	downMs: 500,
	postgresDownMs: 2_000,
	natsSignal: 'SIGKILL',
	// Short enough that what a killed archiver held is redelivered, and a gap left by a killed api
	// process is repaired, within the run (the defaults are 30 s and 5 s).
	gavelEnv: { ARCHIVE_ACK_WAIT_MS: '2000', REPAIR_GRACE_MS: '1000' },
	retryForMs: 20_000,
	settleTimeoutMs: 30_000,
	seed: 20_261_201,
	rawWatchers: 3,
	clientWatchers: 2,
	log: () => {},
}

/** Every check passed; otherwise the report's table and check lines, which name the fault, the check and the numbers. */
function expectPassed(report: StackReport) {
	const failures = report.checks.filter((c) => !c.passed).length + report.windows.filter((w) => w.error || w.recoveryMs === null).length
	if (failures > 0) console.error(`${table(report)}\n\n${checkLines(report)}`)
	expect({ passed: report.passed, failed: report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.violations[0]?.message}`) }).toEqual({ passed: true, failed: [] })
	expect(report.totals.accepted).toBeGreaterThan(0)
}

test('NATS stack: every 201 survives a SIGKILL of each role, NATS killed, Postgres away and Redis restarted empty', async () => {
	const report = await runStack('nats', {
		...short,
		faults: ['api', 'live', 'archiver', 'closer', 'nats', 'postgres', 'redis'],
	})
	expectPassed(report)
	expect(report.windows.map((w) => w.name)).toEqual(['steady', 'api', 'live', 'archiver', 'closer', 'nats', 'postgres', 'redis', 'after'])
}, 120_000)

test('embedded stack: every 201 survives a SIGKILL and a graceful restart of the all-in-one gavel', async () => {
	const report = await runStack('embedded', {
		...short,
		faults: ['gavel', 'gavel-restart'],
	})
	expectPassed(report)
	expect(report.windows.map((w) => w.name)).toEqual(['steady', 'gavel', 'gavel-restart', 'after'])
}, 60_000)
