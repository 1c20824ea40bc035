/**
 * storableTextProblem says why a piece of free text cannot be stored as is, or null when it can.
 * JSON carries both of these, but the archive cannot: Postgres refuses NUL in text and jsonb, and
 * a lone UTF-16 surrogate is not Unicode at all (invalid input for json, lost in UTF-8). Refused at
 * the edge, they never become an event that every archive write would then refuse forever.
 */
export function storableTextProblem(text: string): string | null {
	if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)'
	if (!text.isWellFormed()) return 'must be valid Unicode (it contains a lone surrogate)'
	return null
}
