import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { configProblems as problems } from '../helpers/config.ts'
import { auctionCreated } from '../../src/events.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { connectPostgres, DATABASE_URL, uniqueName } from '../helpers/services.ts'

/**
 * DATABASE_MIGRATION_URL: the schema's owner applies the migrations, and gavel's own role (the
 * DATABASE_URL) gets only what docs/design.md §8 lists: USAGE on the schema and
 * SELECT/INSERT/UPDATE/DELETE on its tables. Both roles and the schema are this test's own.
 */
const admin = await connectPostgres()
const schema = uniqueName('gtest')
const owner = uniqueName('gowner')
const app = uniqueName('gapp')
const urlAs = (role: string) => {
	const url = new URL(DATABASE_URL)
	url.username = role
	url.searchParams.set('search_path', schema)
	return url.toString()
}

beforeAll(async () => {
	await admin.unsafe(`create role ${owner} login`)
	await admin.unsafe(`create role ${app} login`)
	await admin.unsafe(`create schema ${schema} authorization ${owner}`)
})
afterAll(async () => {
	await admin.unsafe(`drop schema if exists ${schema} cascade`)
	await admin.unsafe(`drop role if exists ${app}`)
	await admin.unsafe(`drop role if exists ${owner}`)
	await admin.end({ timeout: 5 })
})

test('migrations run as the owner; gavel then writes and reads as a role with only its grants, and cannot change the schema', async () => {
	const archive = createPostgresArchive({ url: urlAs(app), migrationUrl: urlAs(owner), max: 2 })
	try {
		expect(await archive.migrate()).toEqual([1, 2])
		const tables = await admin<{ owner: string }[]>`select tableowner as owner from pg_tables where schemaname = ${schema}`
		expect(tables.length).toBeGreaterThan(0)
		expect(new Set(tables.map((t) => t.owner))).toEqual(new Set([owner]))
		// The grants an operator gives gavel's role (README "Deploy").
		await admin.unsafe(`grant usage on schema ${schema} to ${app}`)
		await admin.unsafe(`grant select, insert, update, delete on all tables in schema ${schema} to ${app}`)
		const record = newAuction({ id: 'roles1', title: 'Lamp', startingPrice: 100, increment: 10, endsAt: Date.now() + 60_000 }, 'sam', Date.now())
		const event = auctionCreated(record)
		expect((await archive.write([{ event, json: JSON.stringify(event) }])).written).toBe(1)
		expect(await archive.bids('roles1', { order: 'asc', limit: 10 })).toHaveLength(0) // read works (a creation is no bid)
		// Nothing beyond: the app's role cannot create or drop anything in the schema.
		const asApp = await connectPostgres(urlAs(app))
		try {
			await expect(asApp.unsafe(`create table ${schema}.nope (id int)`)).rejects.toThrow(/permission denied/)
		} finally {
			await asApp.end({ timeout: 5 })
		}
		// Migrating again as the owner finds nothing to do.
		expect(await archive.migrate()).toEqual([])
	} finally {
		await archive.close()
	}
})

test('the configuration pairs DATABASE_MIGRATION_URL and DATABASE_CA_FILE with DATABASE_URL, and the CA file with a verify mode', () => {
	expect(problems({ DATABASE_MIGRATION_URL: 'postgres://o@db/g' })).toContain('go with DATABASE_URL')
	expect(problems({ DATABASE_URL: 'postgres://a@db/g?sslmode=require', DATABASE_CA_FILE: '/ca.pem' })).toContain('only checked with sslmode=verify-full')
	expect(problems({ DATABASE_URL: 'postgres://a@db/g?sslmode=verify-full', DATABASE_CA_FILE: '/ca.pem', DATABASE_MIGRATION_URL: 'postgres://o@db/g' })).toBe('')
})
