import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { bidStoreContract } from '../contract/bid-store.ts'

bidStoreContract('memory', async (clock, { eventsKept, idempotencyKeysPerBidder }) => {
	const store = createMemoryBidStore({ now: clock.now, eventsKept, idempotencyKeysPerBidder })
	return { store, cleanup: () => store.close() }
})
