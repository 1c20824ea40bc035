import { pagePolicy } from '../../http/security-headers.ts'

/** What the page's HTML needs to know: its two assets and whether the development sign-in exists. */
export interface ShellOptions {
	script: string
	style: string
	devSignIn: boolean
}

/** gavel's mark as the tab's icon, inline (no request): a gavel head on a handle. */
const ICON =
	"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect x='4' y='6' width='16' height='9' rx='2' transform='rotate(-35 12 10)' fill='%231d4ed8'/%3E%3Crect x='14' y='14' width='4' height='16' rx='2' transform='rotate(-35 16 22)' fill='%2378350f'/%3E%3C/svg%3E"

/**
 * pageShell is the one HTML document of every page (`/`, `/a/<id>`, `/sell`): the stylesheet, the
 * script (which reads the path and draws the page) and a flag for the development sign-in. No
 * inline script, so the page's CSP allows scripts from gavel only; requests go to gavel only.
 */
export function pageShell({ script, style, devSignIn }: ShellOptions): { html: string; csp: string; etag: string } {
	const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="gavel-dev-sign-in" content="${devSignIn ? 'on' : 'off'}">
<title>gavel</title>
<link rel="icon" href="${ICON}">
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<noscript><p>gavel's pages need JavaScript.</p></noscript>
<div id="app"></div>
</body>
</html>
`
	return { html, csp: pagePolicy([]), etag: `"${Bun.hash(html).toString(36)}"` }
}
