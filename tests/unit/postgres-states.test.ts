import { expect, test } from 'bun:test'
import { newestPerAuction } from '../../src/adapters/postgres/states.ts'
import { stateOf } from '../contract/archive.ts'

test("a batch's state records travel to Postgres as each auction's newest only, whatever their order", () => {
	const batch = [stateOf('a', 1), stateOf('b', 4), stateOf('a', 3), stateOf('a', 2), stateOf('b', 2), stateOf('c', 0)]
	expect(newestPerAuction(batch).map((s) => `${s.auction}:${s.rev}`).sort()).toEqual(['a:3', 'b:4', 'c:0'])
	expect(newestPerAuction([])).toEqual([])
})
