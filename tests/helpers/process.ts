import type { Subprocess } from 'bun'

const ROOT = new URL('../..', import.meta.url).pathname
export const CLI = `${ROOT}src/cli/main.ts`

export interface ServeProcess {
	proc: Subprocess<'ignore', 'pipe', 'pipe'>
	url: string
	/** Every JSON log line so far. */
	logs: Array<Record<string, unknown>>
	stderr(): string
}

/**
 * spawnServe starts `gavel serve` as a child process on a free port and resolves once its
 * "gavel is ready" log line names the URL. The caller stops it by pid (kill) in a finally.
 */
export async function spawnServe(env: Record<string, string>, timeoutMs = 15_000): Promise<ServeProcess> {
	const proc = Bun.spawn(['bun', CLI, 'serve'], {
		cwd: ROOT,
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
						if (entry.msg === 'gavel is ready') resolve(entry.url as string)
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
		return { proc, url: await ready, logs, stderr: () => err }
	} finally {
		clearTimeout(timer)
	}
}

/** runCli runs one `gavel …` command to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}) {
	const proc = Bun.spawn(['bun', CLI, ...args], {
		cwd: ROOT,
		env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp', ...env },
		stdout: 'pipe',
		stderr: 'pipe',
	})
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	return { stdout, stderr, code }
}
