// The bids bench over several instances (`bun run bench bids --url a,b`): the URL list, the
// connections split between them, several wrk reports read as one, and the bids counted once
// (each instance's /metrics counts the requests it answered).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mergeWrkFigures, splitConnections, wrkFigures } from '../../bench/bids.ts'
import { bidCounts, urlList } from '../../bench/lib/gavel.ts'

const WRK_REPORT = `Running 10s test @ http://127.0.0.1:3000
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.20ms  45.30ms   90.00%
    Req/Sec    12.00k     1.00k   14.00k    70.00%
  Latency Distribution
     50%    1.90ms
     75%  2.50ms
     90%    3.10ms
     99%  850.00us
  120000 requests in 10.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
Requests/sec:  12000.00
`

describe('bids over several instances', () => {
	test('--url: a comma-separated list of http(s) URLs, trailing slashes dropped', () => {
		expect(urlList('http://127.0.0.1:3000')).toEqual(['http://127.0.0.1:3000'])
		expect(urlList('http://a:1/, https://b:2')).toEqual(['http://a:1', 'https://b:2'])
		expect(() => urlList('http://a:1,,http://b:2')).toThrow('--url')
		expect(() => urlList('a:1')).toThrow('--url')
		expect(() => urlList('http://a:1,http://a:1')).toThrow('the same URL twice')
	})

	test('connections split as evenly as whole ones go; one URL keeps them all', () => {
		expect(splitConnections(100, 1)).toEqual([100])
		expect(splitConnections(100, 2)).toEqual([50, 50])
		expect(splitConnections(101, 3)).toEqual([34, 34, 33])
		expect(() => splitConnections(1, 2)).toThrow('1 connections cannot reach 2 URLs')
	})

	test("wrk's report read; several summed, each percentile the highest part's (exact for one part)", () => {
		const one = wrkFigures(WRK_REPORT)
		expect(one).toEqual({ requests: 120_000, errors: 6, latencyMs: { p50: 1.9, p75: 2.5, p90: 3.1, p99: 0.85, max: 45.3 } })
		expect(mergeWrkFigures([one])).toEqual(one)
		const other = { requests: 80_000, errors: 1, latencyMs: { p50: 2.5, p75: 2, p90: 4, p99: 9, max: 20 } }
		expect(mergeWrkFigures([one, other])).toEqual({ requests: 200_000, errors: 7, latencyMs: { p50: 2.5, p75: 2.5, p90: 4, p99: 9, max: 45.3 } })
	})

	describe('counting', () => {
		const servers: Server<undefined>[] = []
		const metrics = (accepted: number, tooLow: number) =>
			`# HELP gavel_bids_total bids\ngavel_bids_total{outcome="accepted",reason=""} ${accepted}\ngavel_bids_total{outcome="rejected",reason="TOO_LOW"} ${tooLow}\ngavel_bids_total{outcome="rejected",reason="CLOSED"} 1\n`
		beforeAll(() => {
			for (const [a, r] of [
				[10, 5],
				[7, 2],
			] as const)
				servers.push(Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(metrics(a, r)) }))
		})
		afterAll(() => {
			for (const server of servers) server.stop(true)
		})

		test('each instance counts the bids it answered: the sum over them counts each once', async () => {
			const [a, b] = servers.map((s) => `http://127.0.0.1:${s.port}`)
			expect(await bidCounts(a!)).toEqual({ accepted: 10, rejected: 6, replayed: 0 })
			expect(await bidCounts([a!, b!])).toEqual({ accepted: 17, rejected: 9, replayed: 0 })
		})
	})
})
