import { afterAll } from 'bun:test'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { bidStoreContract } from '../contract/bid-store.ts'
import { connectRedis, deleteKeys, uniqueName } from '../helpers/services.ts'

const redis = await connectRedis()
afterAll(() => redis.quit())

bidStoreContract('redis', async (clock, { eventsKept }) => {
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis, prefix, now: clock.now, eventsKept })
	return { store, cleanup: () => deleteKeys(redis, prefix) }
})
