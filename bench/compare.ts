import { rm } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { startGavel } from './lib/gavel.ts'
import { benchBids, type BidsResult } from './bids.ts'

/**
 * compare measures the bids workload for an older revision and for the working tree in the
 * same run, alternating A B A B so drift on a shared machine hits both alike. Both run the api
 * and live roles alone (no archiver, no closer), so only the bid path is compared:
 *   bun bench/compare.ts <rev> [--rounds 2] [--duration 8]
 */
const { values, positionals } = parseArgs({
	args: Bun.argv.slice(2),
	allowPositionals: true,
	options: { rounds: { type: 'string', default: '2' }, duration: { type: 'string', default: '8' } },
})
const rev = positionals[0]
if (!rev) {
	console.error('usage: bun bench/compare.ts <git revision> [--rounds 2] [--duration 8]')
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
			const target = await startGavel({ ROLES: 'api,live' }, [], root, { archiver: false })
			try {
				runs[label]!.push(await benchBids(target, { durationSeconds: Number(values.duration) }))
			} finally {
				await target.stop()
			}
		}
	console.log('\n| revision | bids/s | P50 ms | P99 ms | gavel CPU µs per bid |\n|---|---|---|---|---|')
	for (const [label, results] of Object.entries(runs))
		for (const r of results)
			console.log(`| ${label} | ${r.bidsPerSecond.toLocaleString('en')} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${((r.cpu.gavel / (r.accepted + r.rejected)) * 1e6).toFixed(1)} |`)
} finally {
	git('worktree', 'remove', '--force', base)
	await rm(base, { recursive: true, force: true })
}
