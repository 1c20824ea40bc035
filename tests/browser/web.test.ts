// The web page in a real browser (docs/design.md §5b): headless Debian Chromium driven by
// playwright-core against a listening gavel. People bid against each other from two browser
// contexts and watch it happen without reloading; a page rides out a server restart; /sell
// creates what / then lists. Every page is held to: requests to gavel only, no console error,
// no CSP violation, and exactly the refusals the test provoked. Screenshots go to
// test-artifacts/web/ (gitignored). Waits are bounded; nothing asserts a time.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Browser, Page } from 'playwright-core'
import { signToken } from '../../src/auth/tokens.ts'
import { startTestGavel, TEST_SECRET, type TestGavel } from '../helpers/gavel.ts'
import { spawnServe, type ServeProcess } from '../helpers/process.ts'
import { connectNats, connectRedis, deleteKeys, NATS_URL, REDIS_URL, uniqueName } from '../helpers/services.ts'
import { ARTIFACTS, DESKTOP, foreignRequests, launchChromium, openPage, PHONE, signInAs, waitForText, type WatchedPage } from '../helpers/browser.ts'

let browser: Browser
let g: TestGavel
beforeAll(async () => {
	;[browser, g] = await Promise.all([launchChromium(), startTestGavel({ devSecret: true })])
}, 30_000)
afterAll(async () => {
	await browser?.close()
	await g?.stop()
})

/** The browser contexts a test opened, closed when it ends. */
let opened: WatchedPage[] = []
afterEach(async () => {
	const pages = opened
	opened = []
	for (const watched of pages) await watched.close()
})

/** open gives a fresh browser context (another person, with storage of their own) on `path`. */
async function open(path: string, options: { base?: string; viewport?: typeof DESKTOP } = {}): Promise<WatchedPage> {
	const watched = await openPage(browser, options.viewport)
	opened.push(watched)
	await watched.page.goto(`${options.base ?? g.url}${path}`)
	return watched
}

/**
 * The checks every page passes: requests to gavel only, no console error or warning, no CSP
 * violation, no uncaught exception, and exactly the refusals the test provoked on purpose
 * (`failures`, e.g. `409 POST /auctions/x/bids`); `allow` names console lines it expects.
 */
function expectClean(watched: WatchedPage, { base = g.url, failures = [] as string[], allow = [] as RegExp[] } = {}) {
	expect(foreignRequests(watched, base)).toEqual([])
	expect(watched.problems.filter((p) => !allow.some((a) => a.test(p)))).toEqual([])
	expect([...watched.failures].sort()).toEqual([...failures].sort())
}

const json = { 'content-type': 'application/json' }

/** createAuction opens an auction as sam (a seller), over HTTP. */
async function createAuction(body: Record<string, unknown>, gavel: { url: string; token(sub: string, roles?: string[]): Promise<string> } = g) {
	const res = await fetch(`${gavel.url}/auctions`, {
		method: 'POST',
		headers: { ...json, authorization: `Bearer ${await gavel.token('sam', ['seller'])}` },
		body: JSON.stringify({ title: 'Brass lamp', startingPrice: 1000, increment: 100, endsAt: Date.now() + 600_000, ...body }),
	})
	expect(res.status).toBe(201)
	return (await res.json()) as { id: string; endsAt: number }
}

/** The page was not reloaded: the document that started the test is still the one shown. */
const documentStart = (page: Page) => page.evaluate(() => performance.timeOrigin)

const bidButton = (page: Page) => page.getByRole('button', { name: 'Place bid' })
const amountBox = (page: Page) => page.getByLabel(/^Your bid/)
const maxBox = (page: Page) => page.getByLabel(/^Maximum, optional/)

async function bid(page: Page, amount: string, max?: string) {
	await amountBox(page).fill(amount)
	if (max !== undefined) await maxBox(page).fill(max)
	await bidButton(page).click()
}

/** The seqs of the bids a page lists, newest first. */
const listedSeqs = (page: Page) => page.locator('[data-testid="history"] li').evaluateAll((items) => items.map((li) => Number(li.getAttribute('data-seq'))))

describe('bidding against each other', () => {
	test('two bidders in two browser contexts each see the other’s bid live, without reloading', async () => {
		const { id } = await createAuction({ title: 'Mantel clock' })
		const alice = await open(`/a/${id}`)
		const bob = await open(`/a/${id}`)
		await signInAs(alice.page, 'alice')
		await signInAs(bob.page, 'bob')
		const [aliceStart, bobStart] = await Promise.all([documentStart(alice.page), documentStart(bob.page)])
		await waitForText(alice.page, 'price', '10.00')
		expect(await amountBox(alice.page).inputValue()).toBe('10.00') // the next minimum, filled in

		await bidButton(alice.page).click()
		await waitForText(alice.page, 'outcome', 'You lead at 10.00 USD')
		let sent = performance.now()
		await waitForText(bob.page, 'leader', 'Leader: alice')
		console.log(`alice's bid on bob's page ${Math.round(performance.now() - sent)} ms after alice's page had the answer`)
		await waitForText(bob.page, 'price', '10.00')
		expect(await amountBox(bob.page).inputValue()).toBe('11.00')

		// Bob answers from the keyboard: Enter in the amount box places the bid.
		await amountBox(bob.page).press('Enter')
		await waitForText(bob.page, 'outcome', 'You lead at 11.00 USD')
		sent = performance.now()
		await waitForText(alice.page, 'outcome', 'You were outbid: bob leads at 11.00 USD.')
		console.log(`bob's bid on alice's page ${Math.round(performance.now() - sent)} ms after bob's page had the answer`)
		await waitForText(alice.page, 'price', '11.00')
		await waitForText(bob.page, 'leader', 'You are leading')
		expect(await alice.page.getByTestId('leader').textContent()).toBe('Leader: bob')
		expect(await listedSeqs(alice.page)).toEqual([2, 1])
		expect(await listedSeqs(bob.page)).toEqual([2, 1])
		expect(await documentStart(alice.page)).toBe(aliceStart)
		expect(await documentStart(bob.page)).toBe(bobStart)
		// One WebSocket each, to gavel's /live.
		expect(alice.sockets).toEqual([`${g.url.replace('http', 'ws')}/live`])
		expectClean(alice)
		expectClean(bob)
	})

	test('a proxy maximum outbids a challenger and both pages say so; a raise, and a bid too low', async () => {
		const { id } = await createAuction({ title: 'Copper kettle' })
		const alice = await open(`/a/${id}`)
		const bob = await open(`/a/${id}`)
		await signInAs(alice.page, 'alice')
		await signInAs(bob.page, 'bob')

		await bid(alice.page, '10.00', '30.00')
		await waitForText(alice.page, 'outcome', 'You lead at 10.00 USD; your maximum is 30.00 USD.')
		await waitForText(bob.page, 'price', '10.00')
		await bid(bob.page, '15')
		await waitForText(bob.page, 'outcome', 'Outbid by a proxy bid: price 16.00 USD, leader alice. Next minimum 17.00 USD.')
		await waitForText(alice.page, 'outcome', "Your maximum answered bob's bid: you still lead at 16.00 USD.")
		for (const page of [alice.page, bob.page]) {
			await waitForText(page, 'price', '16.00')
			const proxied = page.locator('[data-testid="history"] li[data-seq="2"]')
			await proxied.waitFor()
			expect(await proxied.textContent()).toContain('proxy bid')
			expect(await proxied.textContent()).toContain('bid 15.00 → 16.00 (alice leads)')
		}

		// Alice raises her maximum: the price stays, nothing is published, her page says so.
		await bid(alice.page, '17.00', '50.00')
		await waitForText(alice.page, 'outcome', 'You still lead at 16.00 USD; your maximum is now 50.00 USD (hidden; the price did not move).')
		// Bob bids below the minimum: told the minimum, and the box holds it again.
		await bid(bob.page, '12.00')
		await waitForText(bob.page, 'outcome', 'Too low: the minimum is 17.00 USD.')
		expect(await amountBox(bob.page).inputValue()).toBe('17.00')
		expectClean(alice)
		expectClean(bob, { failures: [`409 POST /auctions/${id}/bids`] })
	})

	test('a soft-close bid extends the countdown on both pages, and the auction closes on both with the right winner', async () => {
		const SOFT_CLOSE_MS = 4_000
		const { id, endsAt } = await createAuction({ title: 'Silver teapot', softCloseMs: SOFT_CLOSE_MS, endsAt: Date.now() + 6_000 })
		const alice = await open(`/a/${id}`)
		const bob = await open(`/a/${id}`)
		await signInAs(alice.page, 'alice')
		await signInAs(bob.page, 'bob')
		const endOn = async (page: Page) => Number(await page.getByTestId('countdown').locator('[data-ends-at]').getAttribute('data-ends-at'))
		expect(await endOn(alice.page)).toBe(endsAt)

		// Inside the soft-close window (the last 4 s) every public bid moves the end to 4 s after it.
		await Bun.sleep(Math.max(0, endsAt - SOFT_CLOSE_MS / 2 - Date.now()))
		await bid(bob.page, '10.00')
		await waitForText(bob.page, 'outcome', 'You lead at 10.00 USD')
		for (const page of [alice.page, bob.page]) await waitForText(page, 'extended', /^Extended to \d\d:\d\d:\d\d/)
		const firstExtension = await endOn(alice.page)
		expect(firstExtension).toBeGreaterThan(endsAt)
		expect(await endOn(bob.page)).toBe(firstExtension)

		await waitForText(alice.page, 'price', '10.00')
		await bid(alice.page, '11.00')
		await waitForText(alice.page, 'outcome', 'You lead at 11.00 USD')
		for (const page of [alice.page, bob.page]) await waitForText(page, 'extended', /, 2 times$/)
		const secondExtension = await endOn(bob.page)
		expect(secondExtension).toBeGreaterThan(firstExtension)
		expect(await endOn(alice.page)).toBe(secondExtension)

		// The closer ends it about a second after the (extended) end: both pages show the result.
		const bound = secondExtension - Date.now() + 5_000
		await waitForText(alice.page, 'result', 'You won at 11.00 USD.', bound)
		await waitForText(bob.page, 'result', 'Sold to alice for 11.00 USD.', bound)
		await waitForText(alice.page, 'leader', 'You won')
		await waitForText(bob.page, 'leader', 'Won by alice')
		expect(await bob.page.getByTestId('extended').count()).toBe(0) // the end no longer matters
		expect(await bob.page.getByRole('button', { name: 'Place bid' }).count()).toBe(0)
		await alice.page.screenshot({ path: join(ARTIFACTS, 'auction-closed-desktop.png') })
		expectClean(alice)
		expectClean(bob)
	})
})

describe('buying now, and bidding too fast', () => {
	test('signed in from the keyboard, a bidder is told to slow down; another buys now and both pages show the sale', async () => {
		// A gavel of its own that takes one bid a second per bidder (no burst).
		const strict = await startTestGavel({ devSecret: true, env: { RATE_LIMIT_BIDS_PER_SEC: '1', RATE_LIMIT_BURST: '1' } })
		try {
			const { id } = await createAuction({ title: 'Ormolu clock', reservePrice: 2000, buyNowPrice: 5000 }, strict)
			const alice = await open(`/a/${id}`, { base: strict.url })
			const bob = await open(`/a/${id}`, { base: strict.url })
			// Alice signs in with the keyboard alone: the button opens the form, whose field has the focus.
			await alice.page.getByRole('banner').getByRole('button', { name: 'Sign in' }).focus()
			await alice.page.keyboard.press('Enter')
			// The form moves the focus to its field on the next frame: type once it is there, as a person would.
			await alice.page.waitForFunction("document.activeElement?.matches('#header-sign-in input, #header-sign-in textarea') === true")
			await alice.page.keyboard.type('alice')
			await alice.page.keyboard.press('Enter')
			await alice.page.getByTestId('signed-in-as').filter({ hasText: 'alice' }).waitFor()
			await signInAs(bob.page, 'bob')

			await bid(alice.page, '10.00')
			await waitForText(alice.page, 'outcome', 'You lead at 10.00 USD.')
			await bid(alice.page, '11.00', '15.00')
			await waitForText(alice.page, 'outcome', /^Too many bids at once: wait \d+ s and try again\.$/)

			// The reserve is not met, so buy now still applies: two steps, so that a slip buys nothing.
			await waitForText(bob.page, 'price', '10.00')
			await bob.page.getByRole('button', { name: 'Buy now for 50.00 USD' }).click()
			await bob.page.getByRole('button', { name: 'Confirm: buy now for 50.00 USD' }).click()
			await waitForText(bob.page, 'outcome', 'You bought it for 50.00 USD.')
			await waitForText(bob.page, 'result', 'You won at 50.00 USD.')
			await waitForText(alice.page, 'result', 'Sold to bob for 50.00 USD.')
			await waitForText(alice.page, 'price', '50.00')
			expect(await listedSeqs(alice.page)).toEqual([2, 1])
			expectClean(alice, { base: strict.url, failures: [`429 POST /auctions/${id}/bids`] })
			expectClean(bob, { base: strict.url })
		} finally {
			await strict.stop()
		}
	})
})

describe('staying live', () => {
	test('a page open through a server restart reconnects and misses nothing (Redis + NATS)', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'gavel-web-restart-'))
		const port = await freePort()
		const env = {
			PORT: String(port),
			DATA_DIR: dataDir,
			AUTH_JWT_SECRET: TEST_SECRET,
			REDIS_URL,
			REDIS_PREFIX: uniqueName(),
			NATS_URL,
			NATS_STREAM: uniqueName('GTEST').toUpperCase(),
			NATS_SUBJECT_PREFIX: uniqueName('gtest'),
			NATS_DLQ_STREAM: uniqueName('GTESTDLQ').toUpperCase(),
		}
		const real = {
			url: `http://127.0.0.1:${port}`,
			token: (sub: string, roles: string[] = []) => signToken(TEST_SECRET, { sub, roles, ttlSeconds: 600 }),
		}
		let serve: ServeProcess | null = await spawnServe(env)
		try {
			const { id } = await createAuction({ title: 'Oak bookcase' }, real)
			// Carol signs in by pasting a token: this gavel has a real secret, so no "sign in as".
			const carol = await open(`/a/${id}`, { base: real.url })
			await carol.page.getByRole('banner').getByRole('button', { name: 'Sign in' }).click()
			await carol.page
				.locator('#header-sign-in')
				.getByLabel('Token (JWT)')
				.fill(await real.token('carol'))
			await carol.page.locator('#header-sign-in').getByRole('button', { name: 'Use token' }).click()
			await carol.page.getByTestId('signed-in-as').filter({ hasText: 'carol' }).waitFor()
			const home = await open('/', { base: real.url })
			await bid(carol.page, '10.00')
			await waitForText(carol.page, 'outcome', 'You lead at 10.00 USD')
			await home.page.locator(`[data-auction="${id}"] .card-price`).filter({ hasText: '10.00' }).waitFor()
			const started = await documentStart(carol.page)

			await stop(serve)
			serve = null
			await carol.page.locator('.connection[data-status="reconnecting"]').waitFor()
			await home.page.locator('.connection[data-status="reconnecting"]').waitFor()
			serve = await spawnServe(env)
			// Bids while the pages are still away: they must come as a replay, once each.
			for (const [who, amount] of [
				['bob', 1100],
				['dave', 1200],
				['bob', 1300],
			] as const) {
				const res = await fetch(`${real.url}/auctions/${id}/bids`, {
					method: 'POST',
					headers: { ...json, authorization: `Bearer ${await real.token(who)}` },
					body: JSON.stringify({ amount }),
				})
				expect(res.status).toBe(201)
			}
			await waitForText(carol.page, 'price', '13.00', 15_000)
			await carol.page.locator('.connection[data-status="live"]').waitFor({ timeout: 15_000 })
			await home.page.locator(`[data-auction="${id}"] .card-price`).filter({ hasText: '13.00' }).waitFor({ timeout: 15_000 })
			await home.page.locator('.connection[data-status="live"]').waitFor({ timeout: 15_000 })
			expect(await listedSeqs(carol.page)).toEqual([4, 3, 2, 1])
			expect(await carol.page.getByTestId('leader').textContent()).toBe('Leader: bob')
			expect(await documentStart(carol.page)).toBe(started)
			expect(carol.sockets.length).toBeGreaterThanOrEqual(2) // the socket was opened again, the page was not
			// While gavel was away, Chromium logs each refused WebSocket; nothing else.
			const away = [/WebSocket connection to '.*\/live' failed/]
			expectClean(carol, { base: real.url, allow: away })
			expectClean(home, { base: real.url, allow: away })
		} finally {
			if (serve !== null) await stop(serve)
			await rm(dataDir, { recursive: true, force: true })
			const redis = await connectRedis()
			await deleteKeys(redis, env.REDIS_PREFIX)
			await redis.quit()
			const nc = await connectNats()
			const jsm = await jetstreamManager(nc)
			for (const stream of [env.NATS_STREAM, env.NATS_DLQ_STREAM]) await jsm.streams.delete(stream).catch(() => {})
			await nc.close()
		}
	}, 60_000)
})

describe('selling', () => {
	test('/sell shows the API’s refusal next to its field, then creates an auction that / lists', async () => {
		const sam = await open('/sell')
		const page = sam.page
		// Signed out, /sell offers the sign-in with "seller" ticked.
		const inline = page.locator('main')
		await inline.getByLabel('Sign in as').fill('sam')
		expect(await inline.getByLabel('seller').isChecked()).toBe(true)
		await inline.getByRole('button', { name: 'Sign in' }).click()
		await page.getByLabel('Title').waitFor()

		const fieldError = (field: string) => page.locator(`[data-field-error="${field}"]`)
		const create = page.getByRole('button', { name: 'Create auction' })
		// Nothing typed: the API names the first field it misses, in its words.
		await create.click()
		await fieldError('startingPrice').filter({ hasText: 'startingPrice: is required' }).waitFor()
		// Not an amount at all: said here, before anything is sent.
		await page.getByLabel(/^Starting price/).fill('ten')
		await create.click()
		await fieldError('startingPrice').filter({ hasText: 'enter an amount in USD, like 12.50' }).waitFor()
		await page.getByLabel(/^Starting price/).fill('40.00')
		await page.getByLabel('Step').fill('2.50')
		await create.click()
		await fieldError('title').filter({ hasText: 'title: must not be empty' }).waitFor()
		expect(await page.getByLabel('Title').evaluate((input) => input === (globalThis as unknown as BrowserWindow).document.activeElement)).toBe(true) // the field at fault has the focus
		await page.getByLabel('Title').fill('Walnut desk')
		await page.getByLabel(/^Reserve, optional/).fill('30')
		await create.click()
		await fieldError('reservePrice').filter({ hasText: 'reservePrice: must be at least startingPrice' }).waitFor()
		expect(await fieldError('title').count()).toBe(0)
		expect(await page.getByLabel(/^Reserve, optional/).getAttribute('aria-invalid')).toBe('true')
		await page.getByLabel(/^Reserve, optional/).fill('55.00')
		await page.getByLabel(/^Buy-now price/).fill('120')
		await page.getByLabel('Soft close, seconds').fill('30')
		await page.getByRole('button', { name: 'in 1 hour' }).click()
		await create.click()

		await page.waitForURL(/\/a\/[A-Za-z0-9_-]+$/)
		const id = new URL(page.url()).pathname.slice(3)
		await page.getByRole('heading', { name: 'Walnut desk' }).waitFor()
		await waitForText(page, 'price', '40.00')
		expect(await page.getByText('This is your auction').count()).toBe(1)
		const created = (await (await fetch(`${g.url}/auctions/${id}`)).json()) as Record<string, unknown>
		expect(created).toMatchObject({
			title: 'Walnut desk',
			startingPrice: 4000,
			increment: 250,
			buyNowPrice: 12000,
			softCloseMs: 30_000,
			sellerId: 'sam',
			reserveMet: false,
		})

		await page.goto(`${g.url}/`)
		const card = page.locator(`[data-auction="${id}"]`)
		await card.waitFor()
		expect(await card.textContent()).toContain('Walnut desk')
		expect(await card.textContent()).toContain('starts at 40.00 USD')
		expect(await card.textContent()).toContain('reserve not met')
		expectClean(sam, { failures: ['422 POST /auctions', '422 POST /auctions', '422 POST /auctions'] })
	})
})

describe('the pages as people see them', () => {
	test('labelled, announced, sized: every control has a label, the price is a live region; screenshots and the first load’s bytes', async () => {
		const { id } = await createAuction({ title: 'Brass lamp', reservePrice: 1500, buyNowPrice: 9000, softCloseMs: 30_000 })
		await createAuction({ title: 'Oak chair', startingPrice: 5000, increment: 500, startsAt: Date.now() + 3_600_000, endsAt: Date.now() + 7_200_000 })
		for (const [who, amount, maxAmount] of [
			['bob', 1100, 2500],
			['carol', 1700, undefined],
		] as const)
			await fetch(`${g.url}/auctions/${id}/bids`, {
				method: 'POST',
				headers: { ...json, authorization: `Bearer ${await g.token(who)}` },
				body: JSON.stringify(maxAmount === undefined ? { amount } : { amount, maxAmount }),
			})

		// The first load of an auction page, in a fresh context (nothing cached): what went over the wire.
		const first = await openPage(browser, DESKTOP)
		opened.push(first)
		const measured: Array<Promise<{ url: string; bytes: number }>> = []
		first.page.on('requestfinished', (request) => {
			measured.push(
				request
					.sizes()
					.then(({ responseBodySize, responseHeadersSize }) => ({ url: new URL(request.url()).pathname, bytes: responseBodySize + responseHeadersSize })),
			)
		})
		await first.page.goto(`${g.url}/a/${id}`)
		await waitForText(first.page, 'price', '18.00')
		await first.page.waitForLoadState('networkidle')
		const sizes = await Promise.all(measured)
		const total = sizes.reduce((sum, s) => sum + s.bytes, 0)
		console.log(`first load of /a/${id}: ${sizes.length} requests, ${total} bytes transferred (${sizes.map((s) => `${s.url} ${s.bytes}`).join(', ')})`)
		expect(sizes.map((s) => s.url)).toEqual(expect.arrayContaining([`/a/${id}`, `/auctions/${id}`, `/auctions/${id}/bids`]))

		for (const [name, viewport] of [
			['desktop', DESKTOP],
			['phone', PHONE],
		] as const) {
			const person = await open('/', { viewport })
			// A seller who is not this auction's: the bid box shows, and so does the /sell form.
			await signInAs(person.page, name === 'desktop' ? 'dana' : 'erin', { seller: true })
			await person.page.locator(`[data-auction="${id}"]`).waitFor()
			await person.page.screenshot({ path: join(ARTIFACTS, `home-${name}.png`), fullPage: true })
			await person.page.goto(`${g.url}/a/${id}`)
			await waitForText(person.page, 'price', '18.00')
			await person.page.locator('.connection[data-status="live"]').waitFor()
			await expectLabelled(person.page)
			expect(await person.page.getByTestId('price').getAttribute('aria-live')).toBe('polite')
			await person.page.screenshot({ path: join(ARTIFACTS, `auction-${name}.png`), fullPage: true })
			await person.page.goto(`${g.url}/sell`)
			await person.page.getByRole('heading', { name: 'Sell' }).waitFor()
			if (name === 'phone') await expectLabelled(person.page)
			await person.page.screenshot({ path: join(ARTIFACTS, `sell-${name}.png`), fullPage: true })
			// Nothing wider than the screen: no sideways scrolling on a phone.
			expect(await person.page.evaluate(() => (globalThis as unknown as BrowserWindow).document.documentElement.scrollWidth)).toBeLessThanOrEqual(
				viewport.width,
			)
			expectClean(person)
		}
		expectClean(first)
	})

	test('an unknown auction says so, and its page is still gavel’s only', async () => {
		const lost = await open('/a/never-created')
		await lost.page.getByRole('heading', { name: /No auction “never-created”/ }).waitFor()
		expectClean(lost, { failures: ['404 GET /auctions/never-created', '404 GET /auctions/never-created/bids'] })
	})
})

/**
 * The little of the DOM these checks read inside the page. The tests' program has no DOM types
 * (src/web/ has its own config), and these functions run in the browser, not in Bun.
 */
interface BrowserDocument {
	activeElement: unknown
	documentElement: { scrollWidth: number }
}
interface FormControl {
	offsetParent: unknown
	labels?: { length: number } | null
	tagName: string
	textContent: string | null
	outerHTML: string
	getAttribute(name: string): string | null
}
/** `globalThis` in the page, cast inline inside each function (the function's text is what runs there). */
interface BrowserWindow {
	document: BrowserDocument
}

/** Every visible form control on the page has an accessible name (a label, aria-label, or a button's text). */
async function expectLabelled(page: Page) {
	const unlabelled = await page.locator('input, select, textarea, button').evaluateAll((elements) =>
		(elements as unknown as FormControl[])
			.filter((control) => control.offsetParent !== null)
			.filter((control) => {
				const labelled = (control.labels?.length ?? 0) > 0 || control.getAttribute('aria-label') || control.getAttribute('aria-labelledby')
				return !labelled && !(control.tagName === 'BUTTON' && control.textContent?.trim())
			})
			.map((control) => control.outerHTML.slice(0, 120)),
	)
	expect(unlabelled).toEqual([])
}

/** A port nothing listens on now (the restarted gavel must come back on the same one). */
async function freePort(): Promise<number> {
	const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
	const port = server.port
	server.stop(true)
	return port
}

/** SIGTERM by pid, then the exit; SIGKILL if it is somehow still running. */
async function stop(serve: ServeProcess) {
	serve.proc.kill('SIGTERM')
	const code = await Promise.race([serve.proc.exited, Bun.sleep(15_000).then(() => null)])
	if (code === null) serve.proc.kill('SIGKILL')
	expect(code).toBe(0)
}
