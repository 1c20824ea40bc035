import { createLogger } from '../../src/observability/log.ts'
import type { FromArchiver, ToArchiver } from './protocol.ts'
import { runArchiver, type RunningArchiver } from './run.ts'

// The archiver as a Bun Worker: a thin shell around run.ts. The main thread sends
// {type:'start', config} first; this answers with reports and, after {type:'stop'}, with
// {type:'stopped', flushed}. Keep it importable by path: `bun build --compile` takes it as an
// extra entrypoint (see src/archive/host.ts).
declare const self: Worker

const post = (message: FromArchiver) => self.postMessage(message)
let started: Promise<RunningArchiver> | null = null

// Settled entries go back in one message per turn, however many a batch commit settled.
let stored: string[] = []
let refused: string[] = []
const flushSettled = () => {
	post({ type: 'settled', stored, refused })
	stored = []
	refused = []
}
const settled = (key: string, ok: boolean) => {
	if (stored.length + refused.length === 0) setImmediate(flushSettled)
	;(ok ? stored : refused).push(key)
}

self.onmessage = (e: MessageEvent<ToArchiver>) => {
	const message = e.data
	switch (message.type) {
		case 'start': {
			const { config } = message
			const log = createLogger(config.logLevel, { thread: 'archiver' })
			started = Promise.resolve().then(() => runArchiver(config, { log, report: (report) => post({ type: 'report', report }), settled }))
			started.catch((err: unknown) => post({ type: 'failed', error: String((err as Error)?.stack ?? err) }))
			break
		}
		case 'events':
			// Chained on start, so events that arrive while it opens the archive keep their order.
			void started?.then((archiver) => archiver.push(message.payloads))
			break
		case 'states':
			void started?.then((archiver) => archiver.pushStates(message.payloads))
			break
		case 'stop':
			if (!started) {
				post({ type: 'stopped', flushed: 0 })
				break
			}
			void started
				.then((archiver) => archiver.stop(message.deadlineMs))
				.then(
					({ flushed }) => post({ type: 'stopped', flushed }),
					(err: unknown) => post({ type: 'failed', error: String((err as Error)?.stack ?? err) }),
				)
			break
	}
}
