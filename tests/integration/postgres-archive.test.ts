import { afterAll, expect, test } from 'bun:test'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { firstSchemaOf, MIGRATIONS } from '../../src/adapters/postgres/migrate.ts'
import { archiveContract, auctionEvents } from '../contract/archive.ts'
import { connectPostgres, createTestSchema, type TestSchema } from '../helpers/services.ts'

const schemas: TestSchema[] = []
afterAll(async () => {
	for (const s of schemas) await s.drop()
})

archiveContract('postgres', async () => {
	const schema = await createTestSchema()
	schemas.push(schema)
	const archive = createPostgresArchive({ url: schema.url })
	await archive.migrate()
	return { archive, cleanup: () => archive.close() }
})

test('migrations run once even when several processes start together, and are recorded', async () => {
	const schema = await createTestSchema()
	schemas.push(schema)
	const archives = Array.from({ length: 4 }, () => createPostgresArchive({ url: schema.url, max: 1 }))
	const applied = await Promise.all(archives.map((a) => a.migrate()))
	expect(applied.flat()).toEqual(MIGRATIONS.map((m) => m.version))
	const [first] = archives
	const rows = await first!.sql<{ version: number; name: string }[]>`select version, name from gavel_migrations order by version`
	expect(rows.map((r) => ({ ...r }))).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })))
	const tables = await first!.sql<{ schema: string }[]>`
		select table_schema as schema from information_schema.tables where table_name = 'bid_events' and table_schema = ${schema.name}`
	expect(tables.map((t) => t.schema)).toEqual([schema.name])
	await Promise.all(archives.map((a) => a.close()))
})

test("a fresh pool's very first query may carry arrays; quotes and backslashes survive", async () => {
	const schema = await createTestSchema()
	schemas.push(schema)
	const setup = createPostgresArchive({ url: schema.url })
	await setup.migrate()
	await setup.close()

	const reader = createPostgresArchive({ url: schema.url })
	expect(await reader.progress(['nothing-yet'])).toEqual([])
	await reader.close()

	const writer = createPostgresArchive({ url: schema.url })
	const a = auctionEvents()
	const tricky = a.bid('bob "the builder" \\ o/ {x,y}', 1000)
	expect(await writer.write([a.created(), tricky])).toEqual({ written: 2, conflicts: [] })
	expect((await writer.events(a.auction, 0, 10)).map((e) => e.json)).toEqual([tricky.json])
	await writer.close()
})

test("a search_path schema that does not exist yet is created: it is gavel's own", async () => {
	// A schema name no one created: the suite's own, dropped first so the search_path names nothing.
	const schema = await createTestSchema()
	await schema.drop()
	const sql = await connectPostgres()
	try {
		const archive = createPostgresArchive({ url: schema.url, max: 1 })
		expect(await archive.migrate()).toEqual(MIGRATIONS.map((m) => m.version))
		const [found] = await sql<{ n: number }[]>`select count(*)::int as n from information_schema.tables where table_schema = ${schema.name} and table_name = 'bid_events'`
		expect(found?.n).toBe(1)
		expect(await archive.migrate()).toEqual([])
		await archive.close()
	} finally {
		await sql.unsafe(`drop schema if exists ${schema.name} cascade`)
		await sql.end({ timeout: 5 })
	}
})

test('the first schema of a search_path is the one created', () => {
	expect(firstSchemaOf('gavel')).toBe('gavel')
	expect(firstSchemaOf('"$user", Gavel, public')).toBe('gavel')
	expect(firstSchemaOf('"My ""odd"" schema"')).toBe('My "odd" schema')
	expect(firstSchemaOf('"$user"')).toBeNull()
	expect(firstSchemaOf('')).toBeNull()
})
