import type { Subprocess } from 'bun'
import { BUN_RUNTIME_FLAGS } from '../../scripts/runtime-flags.ts'

const ROOT = new URL('../..', import.meta.url).pathname
export const CLI = `${ROOT}src/cli/main.ts`

/** How to run `gavel`: from source by default, or a compiled binary (`[path]`) from another folder. */
export interface GavelCommand {
	/** argv before the gavel arguments; default `['bun', …BUN_RUNTIME_FLAGS, CLI]`, as `bun start` runs it. */
	command?: string[]
	/** Working directory; default the repository root. */
	cwd?: string
}

export interface ServeOptions extends GavelCommand {
	/** The process is killed (SIGKILL) when it is not ready by then. */
	timeoutMs?: number
}

export interface ServeProcess {
	proc: Subprocess<'ignore', 'pipe', 'pipe'>
	url: string
	/** Every JSON log line so far. */
	logs: Array<Record<string, unknown>>
	/** Milliseconds from spawning the process to reading its "gavel is ready" log line. */
	readyAfterMs: number
	stderr(): string
}

/**
 * spawnServe starts `gavel serve` as a child process on a free port and resolves once its
 * "gavel is ready" log line names the URL. The caller stops it by pid (kill) in a finally.
 */
export async function spawnServe(env: Record<string, string>, options: ServeOptions = {}): Promise<ServeProcess> {
	const { command = ['bun', ...BUN_RUNTIME_FLAGS, CLI], cwd = ROOT, timeoutMs = 15_000 } = options
	const spawnedAt = performance.now()
	const proc = Bun.spawn([...command, 'serve'], {
		cwd,
		env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
	})
	const logs: Array<Record<string, unknown>> = []
	let err = ''
	;(async () => {
		for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk)
	})()
	let readyAfterMs = Number.NaN
	const ready = new Promise<string>((resolve, reject) => {
		;(async () => {
			let buffer = ''
			for await (const chunk of proc.stdout) {
				buffer += new TextDecoder().decode(chunk)
				let nl: number
				while ((nl = buffer.indexOf('\n')) >= 0) {
					const line = buffer.slice(0, nl)
					buffer = buffer.slice(nl + 1)
					try {
						const entry = JSON.parse(line) as Record<string, unknown>
						logs.push(entry)
						if (entry.msg === 'gavel is ready') {
							readyAfterMs = performance.now() - spawnedAt
							resolve(entry.url as string)
						}
					} catch {
						// not a log line
					}
				}
			}
			reject(new Error(`gavel exited before it was ready (code ${await proc.exited}): ${err}`))
		})()
	})
	const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
	try {
		const url = await ready
		return {
			proc,
			url,
			logs,
			readyAfterMs,
			stderr: () => err,
		}
	} finally {
		clearTimeout(timer)
	}
}

/** runCli runs one `gavel …` command to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}, { command = ['bun', CLI], cwd = ROOT }: GavelCommand = {}) {
	const proc = Bun.spawn([...command, ...args], {
		cwd,
		env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp', ...env },
		stdout: 'pipe',
		stderr: 'pipe',
	})
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	return { stdout, stderr, code }
}
