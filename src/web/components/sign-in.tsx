import { useSignal } from '@preact/signals'
import { ApiError } from '../api.ts'
import { devSignIn, devSignInAvailable, isSeller, session, signInNotice, signOut, useToken } from '../session.ts'

/** The header's corner: who is signed in and "sign out", or a button that opens the sign-in form. */
export function SessionBar() {
	const open = useSignal(false)
	const current = session.value
	const toggle = () => {
		open.value = !open.value
		// The form's first field takes the focus, so that a keyboard goes on typing.
		if (open.value) requestAnimationFrame(() => document.querySelector<HTMLElement>('#header-sign-in input, #header-sign-in textarea')?.focus())
	}
	if (current !== null)
		return (
			<div class="session">
				<span>
					signed in as <strong data-testid="signed-in-as">{current.sub}</strong>
					{isSeller(current) ? ' (seller)' : ''}
				</span>
				<span aria-hidden="true"> · </span>
				<button type="button" class="link" onClick={() => signOut()}>
					sign out
				</button>
			</div>
		)
	return (
		<div class="session">
			<button type="button" class="secondary" aria-expanded={open.value} aria-controls="header-sign-in" onClick={toggle}>
				Sign in
			</button>
			{open.value ? (
				// Escape closes it, and the focus goes back to the button that opened it.
				<div
					id="header-sign-in"
					class="popover"
					onKeyDown={(event) => {
						if (event.key !== 'Escape') return
						open.value = false
						;(event.currentTarget.previousElementSibling as HTMLElement | null)?.focus()
					}}
				>
					<SignInForm idPrefix="header" />
				</div>
			) : null}
		</div>
	)
}

/**
 * SignInForm: "sign in as" a name (and seller) where this gavel runs on its development secret,
 * and always a token to paste (kept in this browser's localStorage).
 */
export function SignInForm({ idPrefix, seller = false }: { idPrefix: string; seller?: boolean }) {
	const notice = signInNotice.value
	return (
		<div class="sign-in">
			{notice !== null ? (
				<p class="notice" role="alert">
					{notice}
				</p>
			) : null}
			{devSignInAvailable ? (
				<>
					<DevSignInForm idPrefix={idPrefix} seller={seller} />
					<details>
						<summary>or paste a token</summary>
						<TokenForm idPrefix={idPrefix} />
					</details>
				</>
			) : (
				<TokenForm idPrefix={idPrefix} />
			)}
		</div>
	)
}

function DevSignInForm({ idPrefix, seller }: { idPrefix: string; seller: boolean }) {
	const name = useSignal('')
	const asSeller = useSignal(seller)
	const error = useSignal<string | null>(null)
	const busy = useSignal(false)
	const submit = async (event: Event) => {
		event.preventDefault()
		busy.value = true
		error.value = null
		try {
			await devSignIn(name.value.trim(), asSeller.value)
		} catch (err) {
			error.value = err instanceof ApiError || err instanceof Error ? err.message : String(err)
		} finally {
			busy.value = false
		}
	}
	return (
		<form class="dev-sign-in" onSubmit={submit} aria-describedby={`${idPrefix}-dev-hint`}>
			<div class="field">
				<label for={`${idPrefix}-sign-in-name`}>Sign in as</label>
				<input
					id={`${idPrefix}-sign-in-name`}
					name="sub"
					autocomplete="username"
					placeholder="alice"
					required
					value={name.value}
					onInput={(e) => (name.value = e.currentTarget.value)}
					aria-invalid={error.value !== null}
					aria-errormessage={`${idPrefix}-sign-in-error`}
				/>
			</div>
			<label class="check">
				<input type="checkbox" checked={asSeller.value} onChange={(e) => (asSeller.value = e.currentTarget.checked)} /> seller
			</label>
			<button type="submit" disabled={busy.value}>
				Sign in
			</button>
			<p id={`${idPrefix}-dev-hint`} class="hint">
				Development sign-in: this gavel runs on its generated secret.
			</p>
			{error.value !== null ? (
				<p id={`${idPrefix}-sign-in-error`} class="error" role="alert">
					{error.value}
				</p>
			) : null}
		</form>
	)
}

function TokenForm({ idPrefix }: { idPrefix: string }) {
	const token = useSignal('')
	const error = useSignal<string | null>(null)
	const submit = (event: Event) => {
		event.preventDefault()
		error.value = useToken(token.value)
	}
	return (
		<form class="token-form" onSubmit={submit}>
			<div class="field">
				<label for={`${idPrefix}-token`}>Token (JWT)</label>
				<textarea
					id={`${idPrefix}-token`}
					rows={3}
					spellcheck={false}
					autocomplete="off"
					required
					value={token.value}
					onInput={(e) => (token.value = e.currentTarget.value)}
					aria-invalid={error.value !== null}
				/>
			</div>
			<button type="submit">Use token</button>
			{error.value !== null ? (
				<p class="error" role="alert">
					{error.value}
				</p>
			) : null}
		</form>
	)
}
