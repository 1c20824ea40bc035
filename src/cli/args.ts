/** UsageError is a mistake in the command line: printed with the usage, never with a stack. */
export class UsageError extends Error {}

/** parseDuration reads `500ms`, `30s`, `10m`, `2h`, `1d` (or plain milliseconds) into milliseconds. */
export function parseDuration(text: string): number {
	const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
	if (!match) throw new UsageError(`not a duration: ${JSON.stringify(text)} (try 30s, 10m, 2h)`)
	const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms']
	return Math.round(Number(match[1]) * unit)
}

/** parseAmount reads a whole number of minor units (cents), refusing anything else. */
export function parseAmount(name: string, text: string | undefined): number {
	if (text === undefined) throw new UsageError(`${name} is required (a whole number of minor units, cents)`)
	if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
		throw new UsageError(`${name} must be a whole number of minor units (cents), got ${JSON.stringify(text)}`)
	return Number(text)
}
