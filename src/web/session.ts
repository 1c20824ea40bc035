import { signal } from '@preact/signals'
import { api } from './api.ts'

/** Who is signed in: the token and what it says about its holder (read, not verified: gavel verifies). */
export interface Session {
	token: string
	sub: string
	roles: string[]
	/** Epoch ms, from `exp`. */
	expiresAt: number
}

const STORAGE_KEY = 'gavel.token'

/** readToken reads a JWT's claims for display, or says why it is no token gavel could take. */
export function readToken(token: string, now = Date.now()): Session | { error: string } {
	const parts = token.trim().split('.')
	if (parts.length !== 3) return { error: 'that is not a token (a JWT has three parts separated by dots)' }
	let claims: { sub?: unknown; roles?: unknown; exp?: unknown }
	try {
		const base64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/')
		claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))))
	} catch {
		return { error: 'that token cannot be read' }
	}
	if (typeof claims.sub !== 'string' || claims.sub === '') return { error: 'that token names nobody (no sub)' }
	if (typeof claims.exp !== 'number') return { error: 'that token has no expiry (exp), which gavel requires' }
	if (claims.exp * 1000 <= now) return { error: 'that token has expired' }
	const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : []
	return { token: token.trim(), sub: claims.sub, roles, expiresAt: claims.exp * 1000 }
}

function stored(): Session | null {
	const token = localStorage.getItem(STORAGE_KEY)
	if (token === null) return null
	const read = readToken(token)
	if ('error' in read) {
		localStorage.removeItem(STORAGE_KEY)
		return null
	}
	return read
}

export const session = signal<Session | null>(stored())
/** Why the last sign-in ended, when gavel ended it (an expired or refused token). */
export const signInNotice = signal<string | null>(null)

// Another tab signed in or out: follow it.
window.addEventListener('storage', (event) => {
	if (event.key === STORAGE_KEY) session.value = stored()
})

/** Whether this gavel offers "sign in as" (its generated development secret is in use). */
export const devSignInAvailable = document.querySelector<HTMLMetaElement>('meta[name="gavel-dev-sign-in"]')?.content === 'on'

/** useToken signs in with a pasted token; the error says why not. */
export function useToken(token: string): string | null {
	const read = readToken(token)
	if ('error' in read) return read.error
	localStorage.setItem(STORAGE_KEY, read.token)
	session.value = read
	signInNotice.value = null
	return null
}

/** devSignIn asks this gavel for a development token (`POST /dev/token`). */
export async function devSignIn(sub: string, seller: boolean): Promise<void> {
	const { token } = await api.devToken(sub, seller)
	const problem = useToken(token)
	if (problem !== null) throw new Error(problem)
}

export function signOut(notice: string | null = null): void {
	localStorage.removeItem(STORAGE_KEY)
	session.value = null
	signInNotice.value = notice
}

/** The token is still good by its clock; gavel refused it (401) anyway or it ran out: sign out, saying why. */
export function tokenRefused(message: string): void {
	signOut(`Signed out: ${message}. Sign in again.`)
}

export const isSeller = (s: Session | null): boolean => s !== null && (s.roles.includes('seller') || s.roles.includes('admin'))
