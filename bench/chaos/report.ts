import type { StackReport, WindowReport } from './run.ts'

/** The chaos run's printed report: one table row per fault (and the steady start, and the end), then every check with its numbers. */

const n = (x: number) => x.toLocaleString('en')
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

function non201(w: WindowReport): string {
	const entries = Object.entries(w.non201).sort((a, b) => b[1] - a[1])
	return entries.length ? entries.map(([k, v]) => `${k} × ${n(v)}`).join(', ') : 'none'
}

/** The time without accepted bids a fault caused, and on a killed Redis primary's slots alone. */
function faultGap(w: WindowReport): string {
	if (w.noAcceptedFromFaultMs === undefined) return ''
	const slots = w.killedSlots ? `; its slots' ${w.killedSlots.auctions.length} auctions: ${seconds(w.killedSlots.noAcceptedFromFaultMs)}` : ''
	return `${seconds(w.noAcceptedFromFaultMs)}${slots}`
}

function checksCell(w: WindowReport, total: number): string {
	const failed = Object.entries(w.failed)
	if (failed.length === 0) return `${total}/${total} passed`
	return `${total - failed.length}/${total} passed; failed: ${failed.map(([name, count]) => `${name} (${count})`).join(', ')}`
}

/** The Markdown table of one stack's run. */
export function table(report: StackReport): string {
	const total = report.checks.length
	const lines = [
		`| fault (${report.kind} stack) | recovered in | bids answered 201 | non-201 answers by status · code | longest time without an accepted bid | time without accepted bids, fault → flowing again | checks |`,
		'|---|---|---|---|---|---|---|',
	]
	for (const w of report.windows) {
		const recovered = w.skipped
			? w.skipped
			: w.error
				? `the fault failed: ${w.error}`
				: w.recoveryMs === undefined
					? ''
					: w.recoveryMs === null
						? 'not within the timeout'
						: seconds(w.recoveryMs)
		const gap = w.name === 'after' ? '' : seconds(w.noAcceptedMs)
		const title = w.target ? `${w.title}: ${w.target}` : w.title
		lines.push(`| ${title} | ${recovered} | ${n(w.bids201)} | ${non201(w)} | ${gap} | ${faultGap(w)} | ${checksCell(w, total)} |`)
	}
	return lines.join('\n')
}

/** One line: each fault's time without accepted bids (from the fault until bids flowed again). */
export function gapLine(report: StackReport): string {
	const faults = report.windows.filter((w) => w.noAcceptedFromFaultMs !== undefined)
	return `time without accepted bids (${report.kind}): ${faults.length ? faults.map((w) => `${w.name} ${faultGap(w)}`).join(' · ') : 'no fault injected'}`
}

/** Every check with its numbers and its first violations. */
export function checkLines(report: StackReport, shown = 5): string {
	const out: string[] = []
	for (const c of report.checks) {
		out.push(`${c.passed ? '✓' : '✗'} ${c.title}: ${c.numbers}${c.passed ? '' : ` — ${n(c.violations.length)} violation(s)`}`)
		for (const v of c.violations.slice(0, shown)) out.push(`    ${v.auction ? `${v.auction}: ` : ''}${v.message}`)
		if (c.violations.length > shown) out.push(`    … and ${n(c.violations.length - shown)} more (see the JSON)`)
	}
	out.push(gapLine(report))
	const t = report.totals
	out.push(
		`totals: ${n(t.bids)} bids sent (${n(t.accepted)} accepted, ${n(t.refused)} refused, ${n(t.unknown)} without a definite answer, ${n(t.skipped)} not sent: too many waiting); ${n(t.auctions)} auctions, ${n(t.events)} events archived`,
	)
	return out.join('\n')
}

/** The JSON written to bench/results: everything, violations capped per check so a broken run stays readable. */
export function jsonReport(reports: StackReport[], extra: Record<string, unknown>) {
	return {
		...extra,
		passed: reports.every((r) => r.passed),
		stacks: reports.map((r) => ({
			...r,
			checks: r.checks.map((c) => ({ ...c, violationCount: c.violations.length, violations: c.violations.slice(0, 200) })),
		})),
	}
}
