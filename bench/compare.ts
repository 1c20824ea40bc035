import { rm } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { startGavel } from './lib/gavel.ts'
import { benchBids, type BidsResult } from './bids.ts'

/**
 * compare measures the bids workload for an older revision and for the working tree in the
 * same run, alternating A B A B so drift on a shared machine hits both alike. Both run the api
 * and live roles alone (no archiver, no closer), so only the bid path is compared:
 *   bun bench/compare.ts <rev> [--rounds 2] [--duration 8] [--accept-all] [--archiver]
 * --accept-all: every bid accepted (bench bids --accept-all), figures per accepted bid.
 * --archiver: each revision's archiver runs too (a process of its own, on Postgres), and its CPU
 * and Postgres' are compared as well: the whole path an accepted bid takes.
 */
const { values, positionals } = parseArgs({
	args: Bun.argv.slice(2),
	allowPositionals: true,
	options: {
		rounds: { type: 'string', default: '2' },
		duration: { type: 'string', default: '8' },
		'accept-all': { type: 'boolean', default: false },
		archiver: { type: 'boolean', default: false },
	},
})
const rev = positionals[0]
if (!rev) {
	console.error('usage: bun bench/compare.ts <git revision> [--rounds 2] [--duration 8] [--accept-all] [--archiver]')
	process.exit(2)
}
const ROOT = new URL('..', import.meta.url).pathname
const git = (...args: string[]) => {
	const r = Bun.spawnSync(['git', ...args], { cwd: ROOT })
	if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString()}`)
	return r.stdout.toString().trim()
}
const sha = git('rev-parse', '--short', rev)
const base = `/tmp/gavel-compare-${sha}/`
git('worktree', 'add', '--force', '--detach', base, sha)
try {
	const install = Bun.spawnSync(['bun', 'install', '--frozen-lockfile'], { cwd: base, stdout: 'ignore', stderr: 'inherit' })
	if (install.exitCode !== 0) throw new Error('bun install failed in the base checkout')
	const runs: Record<string, BidsResult[]> = { [sha]: [], 'working tree': [] }
	for (let round = 0; round < Number(values.rounds); round++)
		for (const [label, root] of [[sha, base], ['working tree', ROOT]] as const) {
			console.error(`round ${round + 1}: ${label}`)
			const target = await startGavel({ ROLES: 'api,live' }, [], root, { archiver: values.archiver })
			try {
				runs[label]!.push(await benchBids(target, { durationSeconds: Number(values.duration), acceptAll: values['accept-all'] }))
			} finally {
				await target.stop()
			}
		}
	if (values['accept-all']) {
		// Per accepted bid, by process: the whole path when the archiver ran.
		const us = (seconds: number, r: BidsResult) => ((seconds / Math.max(1, r.accepted)) * 1e6).toFixed(0)
		console.log('\n| revision | accepted bids/s | P50 ms | P99 ms | µs CPU per accepted bid: gavel · archiver · Postgres · Redis · NATS = all |\n|---|---|---|---|---|')
		for (const [label, results] of Object.entries(runs))
			for (const r of results) {
				const c = r.cpu
				const all = c.gavel + c.archiver + c.postgres + c.redis + c.nats
				console.log(
					`| ${label} | ${Math.round(r.accepted / r.durationSeconds).toLocaleString('en')} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${us(c.gavel, r)} · ${us(c.archiver, r)} · ${us(c.postgres, r)} · ${us(c.redis, r)} · ${us(c.nats, r)} = ${us(all, r)} |`,
				)
			}
	} else {
		console.log('\n| revision | bids/s | P50 ms | P99 ms | gavel CPU µs per bid |\n|---|---|---|---|---|')
		for (const [label, results] of Object.entries(runs))
			for (const r of results)
				console.log(`| ${label} | ${r.bidsPerSecond.toLocaleString('en')} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${((r.cpu.gavel / (r.accepted + r.rejected)) * 1e6).toFixed(1)} |`)
	}
} finally {
	git('worktree', 'remove', '--force', base)
	await rm(base, { recursive: true, force: true })
}
