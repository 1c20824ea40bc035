import pino, { type Logger } from 'pino'

export type { Logger }

/** createLogger writes JSON lines to stdout; components take `log.child({ component })`. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
	return pino({ level, base: { service: 'gavel', ...base }, timestamp: pino.stdTimeFunctions.epochTime })
}

/** A logger that drops everything, for tests and tools. */
export const silentLogger = (): Logger => pino({ level: 'silent' })
