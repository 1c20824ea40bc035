import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = Bun.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Where screenshots go (gitignored): the browser tests' artefacts. */
export const ARTIFACTS = join(import.meta.dir, '../../test-artifacts/web')

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/**
 * launchChromium starts one headless Chromium for a test file. A missing browser fails loudly:
 * the browser tests never skip.
 */
export async function launchChromium(): Promise<Browser> {
	if (!existsSync(CHROMIUM_PATH))
		throw new Error(`no Chromium at ${CHROMIUM_PATH}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`)
	await mkdir(ARTIFACTS, { recursive: true })
	// launch() gives every run a fresh temporary profile (user data dir) and removes it at close.
	return chromium.launch({
		executablePath: CHROMIUM_PATH,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
	})
}

/** A response the page got that was a refusal or a failure: `409 POST /auctions/lamp/bids`. */
export type Failure = string

/** A browser context with one page, and everything the page asked for and complained about. */
export interface WatchedPage {
	context: BrowserContext
	page: Page
	/** Every URL the page requested (documents, assets, API calls, WebSockets). */
	requests: string[]
	/** Console errors and warnings, uncaught exceptions and CSP violations. */
	problems: string[]
	/** Answers of 400 and more, as `status METHOD path`. */
	failures: Failure[]
	/** Every WebSocket the page opened. */
	sockets: string[]
	close(): Promise<void>
}

/**
 * openPage opens a fresh context (its own storage: another person) and records every request,
 * console message, page error and CSP violation, so that a test can say the page named no other
 * host and complained of nothing. Chromium's "Failed to load resource" lines are left to
 * `failures`, which names each refusal exactly.
 */
export async function openPage(browser: Browser, viewport = DESKTOP): Promise<WatchedPage> {
	const context = await browser.newContext({ viewport })
	// Every wait is bounded, and a missing element fails the test long before bun's own timeout.
	context.setDefaultTimeout(5_000)
	const page = await context.newPage()
	const requests: string[] = []
	const problems: string[] = []
	const failures: Failure[] = []
	const sockets: string[] = []
	// Runs before the page's own scripts (through the DevTools protocol, so the page's CSP does not apply to it).
	await context.addInitScript({
		content: "addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI))",
	})
	context.on('request', (request) => void requests.push(request.url()))
	context.on('response', (response) => {
		if (response.status() >= 400) failures.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`)
	})
	page.on('websocket', (socket) => {
		sockets.push(socket.url())
		requests.push(socket.url())
	})
	page.on('console', (message) => {
		if (message.type() !== 'error' && message.type() !== 'warning') return
		if (message.text().startsWith('Failed to load resource')) return
		problems.push(`console ${message.type()}: ${message.text()}`)
	})
	page.on('pageerror', (error) => void problems.push(`uncaught: ${error.message}`))
	return { context, page, requests, problems, failures, sockets, close: () => context.close() }
}

/** The requests that went anywhere but gavel (its HTTP and WebSocket origin); inline data: URLs are no request. */
export function foreignRequests(watched: WatchedPage, gavelUrl: string): string[] {
	const { host } = new URL(gavelUrl)
	return watched.requests.filter((url) => {
		const parsed = new URL(url)
		if (parsed.protocol === 'data:') return false
		return parsed.host !== host || !['http:', 'ws:'].includes(parsed.protocol)
	})
}

/** signInAs uses the header's "sign in as" (the development sign-in) and waits for "signed in as". */
export async function signInAs(page: Page, name: string, { seller = false } = {}): Promise<void> {
	await page.getByRole('banner').getByRole('button', { name: 'Sign in' }).click()
	const form = page.locator('#header-sign-in')
	await form.getByLabel('Sign in as').fill(name)
	if (seller) await form.getByLabel('seller').check()
	await form.getByRole('button', { name: 'Sign in' }).click()
	await page.getByTestId('signed-in-as').filter({ hasText: name }).waitFor()
}

/** waitForText waits (bounded) until the element with this test id shows `text`. */
export async function waitForText(page: Page, testId: string, text: string | RegExp, timeout = 5_000): Promise<void> {
	await page.getByTestId(testId).filter({ hasText: text }).first().waitFor({ timeout })
}
