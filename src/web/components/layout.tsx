import type { ComponentChildren } from 'preact'
import { SessionBar } from './sign-in.tsx'

export type Place = 'home' | 'sell' | 'auction' | 'other'

/** The frame of every page: a skip link, the header with its navigation and who is signed in, the content. */
export function Layout({ place, children }: { place: Place; children: ComponentChildren }) {
	const current = (p: Place) => (p === place ? 'page' : undefined)
	return (
		<>
			<a class="skip" href="#main">
				Skip to content
			</a>
			<header class="top">
				<a class="brand" href="/">
					gavel
				</a>
				<nav aria-label="Main">
					<a href="/" aria-current={current('home')}>
						Auctions
					</a>
					<a href="/sell" aria-current={current('sell')}>
						Sell
					</a>
				</nav>
				<SessionBar />
			</header>
			<main id="main" tabIndex={-1}>
				{children}
			</main>
			<footer class="bottom">
				<a href="/openapi">API reference</a>
			</footer>
		</>
	)
}
