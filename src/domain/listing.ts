import { ValidationError } from '../errors.ts'

/**
 * Auctions are listed newest first by a sort key `<createdAt, 15 digits>|<id>`: unique, ordered
 * the same way as a string (Redis ZRANGE BYLEX) and as a number, so both stores page alike.
 * A cursor is the key of the last item served, base64url-encoded so clients treat it as opaque.
 */
export const listKey = (a: { createdAt: number; id: string }): string => `${String(a.createdAt).padStart(15, '0')}|${a.id}`

export const idOfListKey = (key: string): string => key.slice(16)

export const encodeCursor = (key: string): string => Buffer.from(key).toString('base64url')

export function decodeCursor(cursor: string): string {
	const key = Buffer.from(cursor, 'base64url').toString()
	if (!/^\d{15}\|[A-Za-z0-9_-]{1,64}$/.test(key)) throw new ValidationError('cursor: not a cursor this API gave out', { field: 'cursor' })
	return key
}
