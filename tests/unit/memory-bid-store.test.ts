import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { bidStoreContract } from '../contract/bid-store.ts'

bidStoreContract('memory', async (clock, { eventsKept }) => {
	const store = createMemoryBidStore({ now: clock.now, eventsKept })
	return { store, cleanup: () => store.close() }
})
