import { expect, test } from 'bun:test'
import { StartupError } from '../../src/errors.ts'
import { withStartupWait } from '../../src/lib/startup-wait.ts'
import type { Logger } from '../../src/observability/log.ts'

const recordingLog = () => {
	const lines: string[] = []
	const log = { warn: (_: unknown, msg: string) => lines.push(msg) } as unknown as Logger
	return { log, lines }
}
const down = () => new StartupError('Redis', 'redis://:secret@10.0.0.9:6379', { cause: new Error('connect ECONNREFUSED') })

test('STARTUP_WAIT_S=0: the StartupError at once, no wait', async () => {
	const { log, lines } = recordingLog()
	let attempts = 0
	const failing = withStartupWait(async () => (attempts++, Promise.reject(down())), { waitS: 0, log })
	expect(failing).rejects.toThrow('cannot reach Redis at redis://:***@10.0.0.9:6379')
	await failing.catch(() => {})
	expect(attempts).toBe(1)
	expect(lines).toEqual([])
})

test('> 0: retries with growing pauses, saying what it waits for, until it connects', async () => {
	const { log, lines } = recordingLog()
	const pauses: number[] = []
	let attempts = 0
	const value = await withStartupWait(async () => (++attempts < 4 ? Promise.reject(down()) : 'connected'), {
		waitS: 600,
		log,
		sleep: async (ms) => pauses.push(ms),
	})
	expect(value).toBe('connected')
	expect(pauses).toEqual([1000, 2000, 4000])
	expect(lines[0]).toMatch(/^waiting for Redis at redis:\/\/:\*\*\*@10\.0\.0\.9:6379: connect ECONNREFUSED; retrying in 1 s, giving up in \d+(\.\d)? s$/)
	expect(lines.join()).not.toContain('secret')
})

test('> 0: gives up with the StartupError once the wait is over; other errors are not retried', async () => {
	const { log } = recordingLog()
	let attempts = 0
	await expect(withStartupWait(async () => (attempts++, Promise.reject(down())), { waitS: 0.3, log })).rejects.toBeInstanceOf(StartupError)
	expect(attempts).toBeGreaterThan(1)
	let bugs = 0
	await expect(withStartupWait(async () => (bugs++, Promise.reject(new TypeError('a bug'))), { waitS: 600, log })).rejects.toThrow('a bug')
	expect(bugs).toBe(1)
})
