import type { Subprocess } from 'bun'
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'

/**
 * Server processes a bench, a chaos run or the local cluster owns: free loopback ports, waiting
 * for a port, and a server that can be killed and started again on the same port and dir. A
 * server is either a child of this process (registered in Children, killed if the run is
 * interrupted) or detached, so that it outlives this process (`bun run cluster up`). Everything
 * is stopped by pid, never by name: the machine's own Redis and NATS run beside ours.
 */

/**
 * Children of this run, by pid, and what else must be undone (a schema, a temp dir), so a
 * failure or Ctrl-C stops exactly what the run started and nothing else.
 */
export class Children {
	readonly #procs = new Set<Subprocess>()
	readonly #cleanups = new Set<() => Promise<unknown>>()
	add<P extends Subprocess>(proc: P): P {
		this.#procs.add(proc)
		void proc.exited.then(() => this.#procs.delete(proc))
		return proc
	}
	/** Something to undo if the run is interrupted; the returned function forgets it (done normally). */
	defer(cleanup: () => Promise<unknown>): () => void {
		this.#cleanups.add(cleanup)
		return () => this.#cleanups.delete(cleanup)
	}
	/** SIGKILL to every child still running, by its pid. */
	killAll(): void {
		for (const proc of this.#procs) if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGKILL')
	}
	/** Interrupted: kill every child, wait for them, then undo the rest. */
	async abort(): Promise<void> {
		const running = [...this.#procs]
		this.killAll()
		await Promise.all(running.map((p) => p.exited))
		for (const cleanup of this.#cleanups) await cleanup().catch(() => {})
		this.#cleanups.clear()
	}
}

/** A port nothing listens on right now (the kernel picks it; we let go of it at once). */
export function freePort(): number {
	return freePorts(1)[0]!
}

/** `count` distinct free ports: every probe stays open until all are chosen, so none repeats. */
export function freePorts(count: number): number[] {
	const probes = Array.from({ length: count }, () => Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } }))
	const ports = probes.map((p) => p.port)
	for (const probe of probes) probe.stop(true)
	return ports
}

/** Resolves once something accepts TCP connections on the port; fails after `ms`. */
export async function waitForPort(port: number, what: string, ms = 20_000): Promise<void> {
	const deadline = Date.now() + ms
	for (;;) {
		const open = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
			(s) => (s.end(), true),
			() => false,
		)
		if (open) return
		if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${ms} ms`)
		await Bun.sleep(50)
	}
}

/**
 * Whether a pid is a live process (a zombie is not: an orphan's parent here may never reap it)
 * and, with `commandIncludes`, still the program we started (a pid is reused after an exit).
 */
export function pidRunning(pid: number, commandIncludes?: string): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
		if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false
		if (commandIncludes === undefined) return true
		return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(commandIncludes)
	} catch {
		return false
	}
}

/**
 * Stops a process by pid: `signal` (SIGTERM by default), then SIGKILL when it is still running
 * after `graceMs`. Polls /proc rather than waiting for an exit event, so it works for a process
 * another run started. Resolves to false when there was nothing to stop.
 */
export async function stopPid(pid: number, { signal = 'SIGTERM', graceMs = 10_000, commandIncludes }: { signal?: NodeJS.Signals; graceMs?: number; commandIncludes?: string } = {}): Promise<boolean> {
	if (!pidRunning(pid, commandIncludes)) return false
	const send = (sig: NodeJS.Signals) => {
		try {
			process.kill(pid, sig)
		} catch {
			// it exited meanwhile
		}
	}
	send(signal)
	const deadline = Date.now() + graceMs
	while (pidRunning(pid)) {
		if (Date.now() > deadline) {
			send('SIGKILL')
			while (pidRunning(pid)) await Bun.sleep(20)
			break
		}
		await Bun.sleep(20)
	}
	return true
}

/** How a started server ran: its pid, its exit, and what it printed before a failed start. */
interface Started {
	pid: number
	/** The program, to tell it from a later process that reuses the pid. */
	binary: string
	exited: Promise<unknown>
	output(): Promise<string>
}

/** Spawns a child of this process whose stderr is kept for the error of a failed start. */
function spawnChild(argv: string[], children: Children): Started {
	const proc = children.add(Bun.spawn(argv, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' }))
	return { pid: proc.pid, binary: argv[0]!, exited: proc.exited, output: () => new Response(proc.stderr).text() }
}

export interface DetachedSpawn {
	/** stdout and stderr are appended here. */
	log: string
	cwd?: string
	env?: Record<string, string>
}

/**
 * Spawns a process that outlives this one: its own session (a Ctrl-C in the terminal that ran
 * `cluster up` does not reach it), output appended to a file, not waited for by this process.
 */
export function spawnDetached(argv: string[], { log, cwd, env }: DetachedSpawn): Started {
	const fd = openSync(log, 'a')
	try {
		const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], cwd, env })
		child.unref()
		if (child.pid === undefined) throw new Error(`${argv[0]} did not start (see ${log})`)
		const exited = new Promise((resolve) => child.once('exit', resolve))
		return { pid: child.pid, binary: argv[0]!, exited, output: async () => readFileSync(log, 'utf8').slice(-2000) }
	} finally {
		closeSync(fd)
	}
}

/** A server process the run owns: killed (SIGKILL or SIGTERM) and started again on the same port and dir. */
export interface OwnServer {
	readonly name: string
	readonly port: number
	readonly url: string
	readonly pid: number | undefined
	/** Kills the process by pid and waits for it to exit. */
	kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>
	/** Starts it again (same port, same dir) and waits until it serves. */
	start(): Promise<void>
}

export interface OwnServerSpec {
	name: string
	port: number
	url: string
	/** The command line, asked again at each start. */
	argv: () => string[]
	/** Resolves once the started process serves. */
	ready: () => Promise<void>
	/** Where a child is registered (not used for a detached server). */
	children: Children
	/** Outlive this process, appending stdout and stderr to this file. */
	detachedLog?: string
}

const INSTALL_HINT: Record<string, string> = { 'nats-server': 'nats-server', 'redis-server': 'redis-server', 'redis-cli': 'redis-tools' }

/** Fails with what to install when a program is not on PATH. */
export function requireBinary(binary: string, why: string): void {
	if (!Bun.which(binary)) throw new Error(`${binary} is not on PATH: ${why} (apt-get install ${INSTALL_HINT[binary] ?? binary})`)
}

export function ownServer({ name, port, url, argv, ready, children, detachedLog }: OwnServerSpec): OwnServer {
	let proc: Started | null = null
	return {
		name,
		port,
		url,
		get pid() {
			return proc?.pid
		},
		async kill(signal) {
			const p = proc
			proc = null
			if (!p) return
			// Waits on /proc, not on the exit event alone: a detached child no longer keeps this process alive.
			await stopPid(p.pid, { signal, graceMs: 30_000, commandIncludes: p.binary })
		},
		async start() {
			if (proc) throw new Error(`${name} is already running`)
			const command = argv()
			requireBinary(command[0]!, `${name} runs as a server of its own`)
			const p = detachedLog ? spawnDetached(command, { log: detachedLog }) : spawnChild(command, children)
			proc = p
			const died = p.exited.then(async (code) => {
				throw new Error(`${name} exited (${code}) before it served: ${(await p.output()).slice(0, 500)}`)
			})
			died.catch(() => {}) // a later exit (a fault killing it) is no failure of this start
			try {
				await Promise.race([ready(), died])
			} catch (err) {
				// A start that failed leaves nothing behind.
				if (proc === p) {
					proc = null
					await stopPid(p.pid, { signal: 'SIGKILL', commandIncludes: p.binary })
				}
				throw err
			}
		},
	}
}
