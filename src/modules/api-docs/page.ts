import { pagePolicy } from '../../http/security-headers.ts'

/**
 * Scalar's settings for the reference: everything it would fetch from elsewhere is off (its
 * web fonts, telemetry, the AI agent and MCP helpers), so the page works with gavel alone.
 */
const SCALAR_CONFIGURATION = {
	withDefaultFonts: false,
	telemetry: false,
	agent: { disabled: true },
	mcp: { disabled: true },
}

/**
 * referencePage is the API reference UI at `/openapi`: Scalar's browser bundle, served by gavel
 * itself, reading the document from `/openapi/json`. Both are named relative to the page, so
 * it works through any host or proxy, and it names no other host. `directory` is how the page's
 * URL reaches the `/openapi/` folder: `openapi/` from `/openapi`, nothing from `/openapi/`.
 */
export function referencePage(title: string, directory: '' | 'openapi/'): { html: string; csp: string } {
	// JSON inside <script>: `<` escaped so that no value can close the element.
	const configuration = JSON.stringify({ url: `${directory}json`, ...SCALAR_CONFIGURATION }).replaceAll('<', '\\u003c')
	const start = `Scalar.createApiReference('#reference', ${configuration})`
	const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} API reference</title>
<style>body { margin: 0 }</style>
</head>
<body>
<!-- Not id="api-reference": the bundle mounts a second, unconfigured reference on that. -->
<div id="reference"></div>
<script src="${directory}scalar.js"></script>
<script>${start}</script>
</body>
</html>
`
	// The one inline script is allowed by its hash; nothing else inline may run.
	return { html, csp: pagePolicy([start]) }
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
