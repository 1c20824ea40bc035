/** UsageError is a mistake in the command line: one line and where to read the command's help, never a stack (exit 2). */
export class UsageError extends Error {}

/** CliError is a command that could not do its job for a reason the person can act on: one line, exit 1. */
export class CliError extends Error {}

/** parseDuration reads `500ms`, `30s`, `10m`, `2h`, `1d` (or plain milliseconds) into milliseconds. */
export function parseDuration(text: string, name = 'duration'): number {
	const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
	if (!match) throw new UsageError(`${name} is not a duration: ${JSON.stringify(text)} (try 30s, 10m, 2h)`)
	const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms']
	return Math.round(Number(match[1]) * unit)
}

/** parseAmount reads a whole number of minor units (cents), refusing anything else. */
export function parseAmount(name: string, text: string | undefined): number {
	if (text === undefined) throw new UsageError(`${name} is required (a whole number of minor units, cents)`)
	if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
		throw new UsageError(`${name} must be a whole number of minor units (cents, 1250 for 12.50), got ${JSON.stringify(text)}`)
	return Number(text)
}

/** parseCount reads a whole number from `min` to `max`, e.g. `--limit`. */
export function parseCount(name: string, text: string, { min, max }: { min: number; max: number }): number {
	const value = Number(text)
	if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`)
	return value
}
