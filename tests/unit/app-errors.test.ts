import { expect, test } from 'bun:test'
import pino from 'pino'
import { createApp, type AppDeps } from '../../src/app.ts'
import { createAuth } from '../../src/auth/tokens.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { createRateLimiter } from '../../src/modules/limits/rate-limiter.ts'
import { TRUST_NO_PROXY } from '../../src/http/client-address.ts'
import type { AuctionService } from '../../src/modules/auctions/service.ts'
import type { BidService } from '../../src/modules/bids/service.ts'
import type { HistoryService } from '../../src/modules/history/service.ts'

test('an unexpected failure is a 500 with a reference, its details in the log only, in every environment', async () => {
	for (const production of [false, true]) {
		const lines: Array<Record<string, unknown>> = []
		const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
		const failing = new Error('connect ECONNREFUSED 10.0.0.5:5432 as gavel_owner')
		const deps: AppDeps = {
			auctions: { get: async () => Promise.reject(failing) } as unknown as AuctionService,
			bids: {} as BidService,
			history: {} as HistoryService,
			auth: createAuth({ secret: 's'.repeat(40) }),
			metrics: createMetrics(),
			log,
			dependencies: [],
			api: true,
			maxBodyBytes: 16 * 1024,
			ipLimiter: createRateLimiter({ perSecond: 0, burst: 0 }),
			trustProxy: TRUST_NO_PROXY,
			production,
		}
		const res = await createApp(deps).handle(new Request('http://gavel/auctions/lamp'))
		expect(res.status).toBe(500)
		const text = await res.text()
		expect(text).not.toContain('10.0.0.5')
		const { error } = JSON.parse(text) as { error: { code: string; ref: string; message: string } }
		expect(error.code).toBe('INTERNAL')
		expect(error.message).toContain(error.ref)
		const logged = lines.find((l) => l.msg === 'unhandled error')
		expect(logged).toMatchObject({ ref: error.ref, err: { message: failing.message } })
	}
})
