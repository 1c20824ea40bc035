import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100 // Linux USER_HZ

/** cpuSeconds reads a process's user+system CPU time from /proc (0 when it is gone). */
export function cpuSeconds(pid: number | undefined): number {
	if (pid === undefined) return 0
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
		return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
	} catch {
		return 0
	}
}

/** rssBytes reads a process's resident set size from /proc. */
export function rssBytes(pid: number): number {
	const status = readFileSync(`/proc/${pid}/status`, 'utf8')
	const kb = /VmRSS:\s+(\d+) kB/.exec(status)
	return kb ? Number(kb[1]) * 1024 : 0
}

/** A one-line progress report that rewrites itself on a terminal and appends elsewhere. */
export function progress(text: string) {
	if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}`)
	else process.stderr.write(`${text}\n`)
}
export const progressDone = () => process.stderr.isTTY && process.stderr.write('\n')

/** pidOf finds a running program's pid by its name (the first match), for CPU accounting. */
export function pidOf(name: string): number | undefined {
	const out = Bun.spawnSync(['pgrep', '-x', name]).stdout.toString().trim().split('\n')[0]
	return out ? Number(out) : undefined
}

/** redisCpuSeconds reads Redis' own user+system CPU from INFO. */
export async function redisCpuSeconds(): Promise<number> {
	const { default: Redis } = await import('ioredis')
	const redis = new Redis('redis://127.0.0.1:6379')
	const info = await redis.info('cpu')
	await redis.quit()
	const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
	return get('used_cpu_user') + get('used_cpu_sys')
}

/** pidsOf lists every running process of a program (Postgres runs one per connection). */
export function pidsOf(name: string): number[] {
	return Bun.spawnSync(['pgrep', '-x', name]).stdout.toString().trim().split('\n').filter(Boolean).map(Number)
}

/** cpuOfAll sums the CPU seconds of several processes, by pid, so deltas can be taken. */
export const cpuOfAll = (pids: number[]): Map<number, number> => new Map(pids.map((pid) => [pid, cpuSeconds(pid)]))
export const cpuDelta = (before: Map<number, number>): number =>
	[...before].reduce((sum, [pid, then]) => sum + Math.max(0, cpuSeconds(pid) - then), 0) +
	pidsOf('postgres').filter((pid) => !before.has(pid)).reduce((sum, pid) => sum + cpuSeconds(pid), 0)
