/**
 * Headers on every answer. gavel's API speaks JSON only, so nothing it sends is meant to run or
 * render in a browser: no sniffing a JSON body into HTML or script, no loading anything, no
 * framing, no referrer. A page gavel serves (the API reference) sets its own, narrower policy.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
	'x-content-type-options': 'nosniff',
	'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	'referrer-policy': 'no-referrer',
}

/**
 * pagePolicy is the Content-Security-Policy of a page gavel serves: scripts from gavel itself and
 * the page's own inline scripts by hash (never any inline script), requests to gavel only,
 * styles inline (UI libraries inject them), images and fonts from gavel or data: URLs.
 */
export function pagePolicy(inlineScripts: readonly string[]): string {
	const hashes = inlineScripts.map((s) => `'sha256-${new Bun.CryptoHasher('sha256').update(s).digest('base64')}'`)
	return [
		"default-src 'none'",
		`script-src 'self' ${hashes.join(' ')}`.trim(),
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src 'self'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'none'",
	].join('; ')
}
