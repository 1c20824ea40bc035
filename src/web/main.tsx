import './styles.css'
import { render } from 'preact'
import { Layout, type Place } from './components/layout.tsx'
import { AuctionPage } from './pages/auction.tsx'
import { HomePage } from './pages/home.tsx'
import { SellPage } from './pages/sell.tsx'

/** The page the path names: the server sends one document for all of them (src/modules/web/). */
function route(path: string): { place: Place; page: preact.ComponentChildren } {
	if (path === '/') return { place: 'home', page: <HomePage /> }
	if (path === '/sell') return { place: 'sell', page: <SellPage /> }
	const auction = /^\/a\/([^/]+)$/.exec(path)
	if (auction !== null) {
		const id = decodeURIComponent(auction[1]!)
		return { place: 'auction', page: <AuctionPage key={id} id={id} /> }
	}
	return {
		place: 'other',
		page: (
			<section class="empty">
				<h1>Nothing here</h1>
				<p>
					<a href="/">See the auctions</a>
				</p>
			</section>
		),
	}
}

const { place, page } = route(location.pathname)
render(<Layout place={place}>{page}</Layout>, document.getElementById('app')!)
