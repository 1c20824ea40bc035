import type Redis from 'ioredis'
import type { Command } from 'ioredis'

export interface RedisTraffic {
	/** Command names sent since the last reset, in order (upper case). */
	commands: string[]
	/**
	 * Round trips since the last reset: a command sent after a reply arrived starts a new one,
	 * so a pipeline (or a Promise.all) is one, and each `await` between commands adds one.
	 */
	roundTrips: number
	reset(): void
	stop(): void
}

/**
 * countRedisTraffic records what one client sends, by wrapping its `sendCommand` (every
 * command, pipelined or not, passes through it). Client-side, so other suites sharing the
 * Redis server do not disturb the counts.
 */
export function countRedisTraffic(redis: Redis): RedisTraffic {
	const original = redis.sendCommand
	let repliedSinceSend = true
	const traffic: RedisTraffic = {
		commands: [],
		roundTrips: 0,
		reset() {
			traffic.commands = []
			traffic.roundTrips = 0
			repliedSinceSend = true
		},
		stop() {
			redis.sendCommand = original
		},
	}
	redis.sendCommand = function (this: Redis, command: Command, ...rest: unknown[]) {
		traffic.commands.push(command.name.toUpperCase())
		if (repliedSinceSend) traffic.roundTrips++
		repliedSinceSend = false
		command.promise.then(
			() => (repliedSinceSend = true),
			() => (repliedSinceSend = true),
		)
		return (original as (...args: unknown[]) => unknown).call(this, command, ...rest)
	} as Redis['sendCommand']
	return traffic
}

/**
 * monitorRedis counts, on the server (MONITOR), the commands Redis ran for one client
 * connection: the check that nothing is hidden from the client-side count.
 */
export async function monitorRedis(redis: Redis, client: Redis) {
	const info = String(await client.client('INFO'))
	const addr = / addr=(\S+)/.exec(info)?.[1]
	if (!addr) throw new Error(`CLIENT INFO without addr: ${info}`)
	const monitor = await redis.monitor()
	const seen: string[] = []
	let waiting: { marker: string; resolve: () => void } | null = null
	monitor.on('monitor', (_time: string, args: string[], source: string) => {
		if (source !== addr) return
		if (waiting && args[0]?.toLowerCase() === 'echo' && args[1] === waiting.marker) {
			waiting.resolve()
			waiting = null
			return
		}
		seen.push(args[0]!.toUpperCase())
	})
	return {
		/** The commands Redis ran for `client` since the last call (waits until MONITOR has shown them all). */
		async drain(): Promise<string[]> {
			const marker = `gavel-monitor-${crypto.randomUUID()}`
			const arrived = new Promise<void>((resolve) => (waiting = { marker, resolve }))
			await client.echo(marker)
			await arrived
			return seen.splice(0)
		},
		stop: () => monitor.disconnect(),
	}
}
