import { clockSeconds, fractionDigits, money, span } from '../cli/describe.ts'

// The CLI's formatting, so that the page and `gavel` word amounts and times alike.
export { money, clockSeconds }

/** withCurrency is an amount for people: `16.00 USD`. */
export const withCurrency = (minor: number, currency: string): string => `${money(minor, currency)} ${currency}`

/**
 * parseAmount reads an amount typed in major units (`12.5`, `12,50`, `1 200`) as integer minor
 * units, exactly (no floating point), or says what is wrong with it.
 */
export function parseAmount(text: string, currency: string): number | { error: string } {
	const match = /^(\d+)(?:[.,](\d*))?$/.exec(text.replace(/[\s_]/g, ''))
	const digits = fractionDigits(currency)
	if (match === null) return { error: `enter an amount in ${currency}, like ${money(Math.round(12.5 * 10 ** digits), currency)}` }
	const fraction = match[2] ?? ''
	if (fraction.length > digits) return { error: digits === 0 ? `${currency} amounts have no decimals` : `at most ${digits} decimals in ${currency}` }
	const minor = Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0')
	if (!Number.isSafeInteger(minor)) return { error: 'that amount is too large' }
	return minor
}

/** left is the time until a moment, for a countdown: `4m 09s`, `45s`, `2h 05m`; `0s` once it has passed. */
export function left(ms: number): string {
	if (ms <= 0) return '0s'
	return span(Math.ceil(ms / 1000) * 1000)
		.split(' ')
		.map((part, i) => (i === 0 ? part : part.padStart(3, '0')))
		.join(' ')
}

const pad = (n: number) => String(n).padStart(2, '0')

/** localInputValue is a moment as a `datetime-local` input shows it: `2026-01-31T14:05:09`, local time. */
export function localInputValue(ms: number): string {
	const d = new Date(ms)
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** parseLocalInput reads a `datetime-local` value (local time) as epoch milliseconds; null when empty or not a time. */
export function parseLocalInput(value: string): number | null {
	const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value)
	if (match === null) return null
	const [, y, mo, d, h, mi, s] = match.map(Number) as number[]
	const ms = new Date(y!, mo! - 1, d!, h!, mi!, Number.isNaN(s) ? 0 : s).getTime()
	return Number.isNaN(ms) ? null : ms
}
