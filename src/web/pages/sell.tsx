import { useEffect } from 'preact/hooks'
import { useSignal, type Signal } from '@preact/signals'
import type { ComponentChildren } from 'preact'
import type { Tier } from '../../domain/auction.ts'
import type { NewAuctionInput } from '../../domain/new-auction.ts'
import { api, ApiError } from '../api.ts'
import { SignInForm } from '../components/sign-in.tsx'
import { localInputValue, parseAmount, parseLocalInput } from '../format.ts'
import { isSeller, session, tokenRefused } from '../session.ts'

const CURRENCIES = ['USD', 'EUR', 'GBP', 'CHF', 'JPY', 'CAD', 'AUD', 'SEK']
const QUICK_ENDS: Array<[string, number]> = [
	['in 10 min', 10 * 60_000],
	['in 1 hour', 3_600_000],
	['in 1 day', 86_400_000],
	['in 7 days', 7 * 86_400_000],
]

/** The form's fields, named as the API names them, so that a refusal's `field` finds its input. */
type Field = 'title' | 'id' | 'currency' | 'startingPrice' | 'increment' | 'reservePrice' | 'buyNowPrice' | 'startsAt' | 'endsAt' | 'softCloseMs'
const FIELDS: Field[] = ['title', 'id', 'currency', 'startingPrice', 'increment', 'reservePrice', 'buyNowPrice', 'startsAt', 'endsAt', 'softCloseMs']

/** fieldOf maps the API's field path (`increment[0].step`, `increment.0.step`) to the form's input. */
export function fieldOf(path: string | null): Field | null {
	if (path === null) return null
	const head = path.split(/[.[]/)[0] as Field
	return FIELDS.includes(head) ? head : null
}

interface TierRow {
	from: string
	step: string
}

/** `/sell`: create an auction. Amounts in major units, times in local time; the API's refusals show beside their field. */
export function SellPage() {
	useEffect(() => {
		document.title = 'Sell · gavel'
	}, [])
	const current = session.value
	if (current === null)
		return (
			<section class="sell narrow">
				<h1>Sell</h1>
				<p>Sign in as a seller to create an auction.</p>
				<SignInForm idPrefix="sell" seller />
			</section>
		)
	if (!isSeller(current))
		return (
			<section class="sell narrow">
				<h1>Sell</h1>
				<p role="alert">
					You are signed in as {current.sub} without the seller role: sign out and sign in again as a seller (or with a token that has the role).
				</p>
			</section>
		)
	return <SellForm token={current.token} />
}

function SellForm({ token }: { token: string }) {
	const title = useSignal('')
	const id = useSignal('')
	const currency = useSignal('USD')
	const startingPrice = useSignal('')
	const tiered = useSignal(false)
	const increment = useSignal('')
	const tiers = useSignal<TierRow[]>([
		{ from: '0', step: '' },
		{ from: '', step: '' },
	])
	const reservePrice = useSignal('')
	const buyNowPrice = useSignal('')
	const startsAt = useSignal('')
	const endsAt = useSignal(localInputValue(Date.now() + 3_600_000))
	const softCloseS = useSignal('0')
	const errors = useSignal<Partial<Record<Field, string>>>({})
	const general = useSignal<string | null>(null)
	const busy = useSignal(false)

	/**
	 * The body for the API, or the problem that keeps the form from making one: only text that is no
	 * amount or time at all. A field left empty is left out, so that the API names what is missing,
	 * in the same words as for any other client.
	 */
	const body = (): Partial<NewAuctionInput> | Problem => {
		const ccy = currency.value
		const input: Record<string, unknown> = { title: title.value, currency: ccy }
		const amount = (field: Field, text: string): number | undefined | Problem => {
			if (text.trim() === '') return undefined
			const parsed = parseAmount(text, ccy)
			return typeof parsed === 'number' ? parsed : { field, text: parsed.error }
		}
		for (const [field, text] of [
			['startingPrice', startingPrice.value],
			['reservePrice', reservePrice.value],
			['buyNowPrice', buyNowPrice.value],
		] as const) {
			const value = amount(field, text)
			if (isProblem(value)) return value
			if (value !== undefined) input[field] = value
		}
		if (tiered.value) {
			const rows: Array<Partial<Tier>> = []
			for (const row of tiers.value) {
				if (row.from.trim() === '' && row.step.trim() === '') continue
				const from = amount('increment', row.from)
				const step = amount('increment', row.step)
				if (isProblem(from)) return from
				if (isProblem(step)) return step
				rows.push({ ...(from === undefined ? {} : { from }), ...(step === undefined ? {} : { step }) })
			}
			input.increment = rows
		} else {
			const step = amount('increment', increment.value)
			if (isProblem(step)) return step
			if (step !== undefined) input.increment = step
		}
		for (const [field, text] of [
			['startsAt', startsAt.value],
			['endsAt', endsAt.value],
		] as const) {
			if (text === '') continue
			const at = parseLocalInput(text)
			if (at === null) return { field, text: 'not a date and time' }
			input[field] = at
		}
		const softClose = softCloseS.value.trim() === '' ? 0 : Number(softCloseS.value)
		if (!Number.isFinite(softClose) || softClose < 0) return { field: 'softCloseMs', text: 'a number of seconds, 0 for none' }
		if (softClose > 0) input.softCloseMs = Math.round(softClose * 1000)
		if (id.value.trim() !== '') input.id = id.value.trim()
		return input as Partial<NewAuctionInput>
	}

	const submit = async (event: Event) => {
		event.preventDefault()
		errors.value = {}
		general.value = null
		const made = body()
		if (isProblem(made)) {
			errors.value = { [made.field]: made.text }
			focus(made.field)
			return
		}
		busy.value = true
		try {
			const created = await api.createAuction(made, token)
			location.assign(`/a/${encodeURIComponent(created.id)}`)
		} catch (err) {
			if (!(err instanceof ApiError)) general.value = String(err)
			else if (err.code === 'UNAUTHORIZED') tokenRefused(err.message)
			else {
				const field = fieldOf(err.field)
				if (field !== null) {
					errors.value = { [field]: err.message }
					focus(field)
				} else general.value = err.message
			}
		} finally {
			busy.value = false
		}
	}

	const bind = (value: Signal<string>) => ({
		value: value.value,
		onInput: (e: Event) => (value.value = (e.currentTarget as HTMLInputElement).value),
	})
	const e = errors.value
	return (
		<section class="sell">
			<h1>Sell</h1>
			<form onSubmit={submit} noValidate class="sell-form">
				{general.value !== null ? (
					<p class="error" role="alert" data-testid="form-error">
						{general.value}
					</p>
				) : null}
				<Labelled field="title" label="Title" error={e.title} input={(p) => <input {...p} required maxLength={200} {...bind(title)} />} />
				<Labelled
					field="id"
					label="Address, optional"
					hint="letters, digits, _ and -: the page is /a/ and this; empty: one is made up"
					error={e.id}
					input={(p) => <input {...p} autocomplete="off" {...bind(id)} />}
				/>
				<Labelled
					field="currency"
					label="Currency"
					error={e.currency}
					input={(p) => (
						<select {...p} value={currency.value} onChange={(ev) => (currency.value = ev.currentTarget.value)}>
							{CURRENCIES.map((c) => (
								<option key={c} value={c}>
									{c}
								</option>
							))}
						</select>
					)}
				/>
				<Labelled
					field="startingPrice"
					label={`Starting price (${currency.value})`}
					hint="the lowest first bid"
					error={e.startingPrice}
					input={(p) => <input {...p} inputMode="decimal" required {...bind(startingPrice)} />}
				/>
				<fieldset class="field" aria-describedby={e.increment !== undefined ? 'increment-error' : undefined}>
					<legend>Increment ({currency.value})</legend>
					<label class="check">
						<input type="radio" name="increment-kind" checked={!tiered.value} onChange={() => (tiered.value = false)} /> fixed
					</label>
					<label class="check">
						<input type="radio" name="increment-kind" checked={tiered.value} onChange={() => (tiered.value = true)} /> tiers by price
					</label>
					{tiered.value ? (
						<Tiers tiers={tiers} />
					) : (
						<div class="field">
							<label for="increment">Step</label>
							<input id="increment" inputMode="decimal" required {...bind(increment)} aria-invalid={e.increment !== undefined} />
						</div>
					)}
					{e.increment !== undefined ? (
						<p id="increment-error" class="error" role="alert" data-field-error="increment">
							{e.increment}
						</p>
					) : null}
				</fieldset>
				<Labelled
					field="reservePrice"
					label={`Reserve, optional (${currency.value})`}
					hint="hidden; without it met, nobody wins"
					error={e.reservePrice}
					input={(p) => <input {...p} inputMode="decimal" {...bind(reservePrice)} />}
				/>
				<Labelled
					field="buyNowPrice"
					label={`Buy-now price, optional (${currency.value})`}
					hint="wins at once while the reserve is unmet (or before the first bid)"
					error={e.buyNowPrice}
					input={(p) => <input {...p} inputMode="decimal" {...bind(buyNowPrice)} />}
				/>
				<Labelled
					field="startsAt"
					label="Starts, optional"
					hint="empty: now"
					error={e.startsAt}
					input={(p) => <input {...p} type="datetime-local" step={1} {...bind(startsAt)} />}
				/>
				<Labelled field="endsAt" label="Ends" error={e.endsAt} input={(p) => <input {...p} type="datetime-local" step={1} required {...bind(endsAt)} />} />
				<p class="quick" aria-label="Set the end">
					{QUICK_ENDS.map(([label, ms]) => (
						<button key={label} type="button" class="chip" onClick={() => (endsAt.value = localInputValue(Date.now() + ms))}>
							{label}
						</button>
					))}
				</p>
				<Labelled
					field="softCloseMs"
					label="Soft close, seconds"
					hint="a bid this close to the end moves the end this far past the bid; 0: off"
					error={e.softCloseMs}
					input={(p) => <input {...p} type="number" min={0} step={1} inputMode="numeric" {...bind(softCloseS)} />}
				/>
				<button type="submit" disabled={busy.value}>
					Create auction
				</button>
			</form>
		</section>
	)
}

/** What a field's input carries so that its hint and its refusal are read with it. */
interface InputProps {
	id: Field
	'aria-describedby'?: string
	'aria-invalid': boolean
}

/** Labelled is one field: its label, its input, a hint, and the refusal that names it. */
function Labelled({
	field,
	label,
	hint,
	error,
	input,
}: {
	field: Field
	label: string
	hint?: string
	error: string | undefined
	input: (props: InputProps) => ComponentChildren
}) {
	const described = [hint !== undefined ? `${field}-hint` : '', error !== undefined ? `${field}-error` : ''].filter(Boolean).join(' ')
	return (
		<div class={`field${error !== undefined ? ' invalid' : ''}`}>
			<label for={field}>{label}</label>
			{input({ id: field, 'aria-describedby': described || undefined, 'aria-invalid': error !== undefined })}
			{hint !== undefined ? (
				<p id={`${field}-hint`} class="hint">
					{hint}
				</p>
			) : null}
			{error !== undefined ? (
				<p id={`${field}-error`} class="error" role="alert" data-field-error={field}>
					{error}
				</p>
			) : null}
		</div>
	)
}

function Tiers({ tiers }: { tiers: Signal<TierRow[]> }) {
	const update = (index: number, key: keyof TierRow, value: string) => {
		tiers.value = tiers.value.map((row, i) => (i === index ? { ...row, [key]: value } : row))
	}
	return (
		<div class="tiers">
			{tiers.value.map((row, i) => (
				<div class="tier" key={i}>
					<label for={`tier-${i}-from`}>From price</label>
					<input id={`tier-${i}-from`} inputMode="decimal" value={row.from} onInput={(e) => update(i, 'from', e.currentTarget.value)} />
					<label for={`tier-${i}-step`}>step</label>
					<input id={`tier-${i}-step`} inputMode="decimal" value={row.step} onInput={(e) => update(i, 'step', e.currentTarget.value)} />
					{tiers.value.length > 1 ? (
						<button type="button" class="link" aria-label={`Remove tier ${i + 1}`} onClick={() => (tiers.value = tiers.value.filter((_, j) => j !== i))}>
							remove
						</button>
					) : null}
				</div>
			))}
			<button type="button" class="secondary" onClick={() => (tiers.value = [...tiers.value, { from: '', step: '' }])}>
				Add a tier
			</button>
		</div>
	)
}

/** A reason the form made no body: the field at fault and what is wrong with it. */
interface Problem {
	field: Field
	text: string
}

const isProblem = (value: unknown): value is Problem => typeof value === 'object' && value !== null && 'field' in value && 'text' in value

function focus(field: Field) {
	requestAnimationFrame(() => document.getElementById(field === 'increment' ? 'increment' : field)?.focus())
}
