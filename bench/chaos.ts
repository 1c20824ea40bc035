import { mkdir } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { machine } from './lib/machine.ts'
import { checkLines, jsonReport, table } from './chaos/report.ts'
import { runStack, type StackReport } from './chaos/run.ts'
import { CLUSTER_FAULTS, EMBEDDED_FAULTS, FAULTS_OF, NATS_FAULTS } from './chaos/faults.ts'
import { Children } from './lib/servers.ts'
import type { StackKind } from './chaos/stack.ts'

const USAGE = `bun run chaos [--stack nats|embedded|cluster|both|all] [--cluster] [--seconds-per-fault 15] [--rate 200] [--json PATH]
                 [--faults ${[...NATS_FAULTS, ...EMBEDDED_FAULTS, ...CLUSTER_FAULTS].join(',')}]
                 [--postgres-down 10] [--nats-signal KILL|TERM] [--seed N]

Proves (or disproves) docs/design.md §6: a bid answered 201 survives the loss of any one component.
Starts its own redis-server and nats-server on free loopback ports and uses the machine's Postgres
through a TCP proxy in a schema of its own (the shared 6379/4222/5432 are never stopped), runs gavel
as deployed (NATS stack: api,live · live · archiver · closer processes; embedded: one all-in-one),
puts a steady bid load and WebSocket watchers on it, and injects one fault after another:
  nats stack: ${NATS_FAULTS.join(', ')} (SIGKILL each role's process and start it again; nats-server
              killed and started on the same port and store dir; Postgres cut; Redis killed and
              started empty)
  embedded:   ${EMBEDDED_FAULTS.join(', ')} (SIGKILL the all-in-one and start it again; SIGTERM it, a
              graceful stop, and start it again)
  cluster:    ${CLUSTER_FAULTS.join(', ')} (on a Redis Cluster of 3 primaries + 3 replicas, a
              3-node NATS cluster with NATS_STREAM_REPLICAS=3, and two of each gavel process:
              api,live ×2 taking the bids and the watchers between them · archiver ×2 · closer ×2;
              SIGKILL the Redis primary of the most auctions, start it once its replica is
              promoted; SIGKILL the events stream's leader node; SIGKILL one api,live instance,
              its bidders and watchers moving to the other; SIGKILL one archiver and one closer)
Which stacks: --stack nats|embedded|cluster, both (nats and embedded: the default) or all three.
--cluster alone runs the cluster stack (as --stack cluster); beside --stack it adds the cluster
stack to those (--stack nats --cluster: nats, then cluster).
Then it lets the archive drain and the closers run, and checks: every 201 in the archive once,
seqs dense, each auction's state (GET, the log's state record, Redis' hidden fields) equal to its
history replayed through the rules, each auction closed once and on time, no auction forgotten,
every watcher got every event once and in order, no 500 or 404, nothing dead-lettered; and per
fault the time without accepted bids (the longest gap between 201s from the fault until bids
flowed again; for a killed Redis primary also on its slots' auctions alone).

Prints progress on stderr, the table and the checks on stdout, writes the JSON to
bench/results/chaos-<timestamp>.json (or --json PATH). Exits 1 when any check fails.`

const OPTIONS = {
	stack: { type: 'string' },
	cluster: { type: 'boolean' },
	'seconds-per-fault': { type: 'string', default: '15' },
	rate: { type: 'string', default: '200' },
	json: { type: 'string' },
	faults: { type: 'string' },
	'postgres-down': { type: 'string', default: '10' },
	'nats-signal': { type: 'string', default: 'KILL' },
	seed: { type: 'string' },
	help: { type: 'boolean', short: 'h' },
} as const

const fail = (message: string): never => {
	console.error(`chaos: ${message}\n\n${USAGE}`)
	process.exit(2)
}
const parsed = (() => {
	try {
		return parseArgs({ args: Bun.argv.slice(2), options: OPTIONS })
	} catch (err) {
		return fail((err as Error).message)
	}
})()
const { values } = parsed
if (values.help) {
	console.log(USAGE)
	process.exit(0)
}
const positive = (name: string, raw: string) => {
	const v = Number(raw)
	if (!Number.isFinite(v) || v <= 0) fail(`--${name} must be a positive number (got ${JSON.stringify(raw)})`)
	return v
}
const STACK_CHOICES: Record<string, StackKind[]> = { nats: ['nats'], embedded: ['embedded'], cluster: ['cluster'], both: ['nats', 'embedded'], all: ['nats', 'embedded', 'cluster'] }
const chosen = values.stack === undefined ? (values.cluster ? [] : STACK_CHOICES.both!) : (STACK_CHOICES[values.stack] ?? fail(`--stack must be nats, embedded, cluster, both or all (got ${JSON.stringify(values.stack)})`))
const stacks: StackKind[] = values.cluster && !chosen.includes('cluster') ? [...chosen, 'cluster'] : chosen
const secondsPerFault = positive('seconds-per-fault', values['seconds-per-fault']!)
const rate = positive('rate', values.rate!)
const postgresDownMs = positive('postgres-down', values['postgres-down']!) * 1000
const natsSignal = values['nats-signal'] === 'KILL' || values['nats-signal'] === 'SIGKILL' ? 'SIGKILL' : values['nats-signal'] === 'TERM' || values['nats-signal'] === 'SIGTERM' ? 'SIGTERM' : fail('--nats-signal must be KILL or TERM')
const known: readonly string[] = stacks.flatMap((kind) => FAULTS_OF[kind])
const faults = values.faults?.split(',').map((f) => f.trim()).filter(Boolean)
const unknown = faults?.filter((f) => !known.includes(f)) ?? []
if (unknown.length) fail(`unknown fault(s) for the ${stacks.join(', ')} stack${stacks.length > 1 ? 's' : ''}: ${unknown.join(', ')}`)
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', values.seed)

const ROOT = new URL('..', import.meta.url).pathname
const started = Date.now()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`
const log = (line: string) => console.error(`${elapsed()}  ${line}`)

const children = new Children()
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const)
	process.on(signal, () => {
		if (interrupted) process.exit(130)
		interrupted = true
		console.error(`\nchaos: ${signal}; stopping what this run started`)
		void children.abort().finally(() => process.exit(130))
	})

const reports: StackReport[] = []
for (const kind of stacks) {
	const report = await runStack(
		kind,
		{
			secondsPerFault,
			rate,
			downMs: 1_000,
			postgresDownMs,
			natsSignal,
			faults: faults?.filter((f) => (FAULTS_OF[kind] as readonly string[]).includes(f)),
			retryForMs: 60_000,
			settleTimeoutMs: 90_000,
			seed,
			rawWatchers: 6,
			clientWatchers: 4,
			log,
		},
		children,
	)
	reports.push(report)
	log(`[${kind}] ${report.passed ? 'every check passed' : 'CHECKS FAILED'}`)
}

const at = new Date().toISOString()
const file = values.json ?? new URL(`results/chaos-${at.replaceAll(':', '-')}.json`, import.meta.url).pathname
await mkdir(dirname(file), { recursive: true })
await Bun.write(file, `${JSON.stringify(jsonReport(reports, { at, machine: await machine(), seed, command: Bun.argv.slice(2) }), null, 2)}\n`)

for (const report of reports) {
	console.log(`\n${table(report)}\n`)
	console.log(checkLines(report))
}
const passed = reports.every((r) => r.passed)
console.log(`\n${passed ? 'PASSED' : 'FAILED'}: ${reports.map((r) => `${r.kind} ${r.passed ? 'passed' : 'failed'}`).join(', ')} (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s)`)
console.log(`results: ${file.startsWith(ROOT) ? relative(ROOT, file) : file}`)
process.exit(passed ? 0 : 1)
