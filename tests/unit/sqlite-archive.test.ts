import { expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { createSqliteArchive, migrateSqlite, SQLITE_MIGRATIONS } from '../../src/adapters/sqlite/archive.ts'
import { archiveContract, auctionEvents } from '../contract/archive.ts'

archiveContract('sqlite', async () => {
	const dir = await mkdtemp(join(tmpdir(), 'gavel-archive-'))
	const archive = createSqliteArchive({ path: join(dir, 'archive.sqlite') })
	return {
		archive,
		async cleanup() {
			await archive.close()
			await rm(dir, { recursive: true, force: true })
		},
	}
})

test('the embedded archive keeps history across reopening, in WAL mode, migrated once', async () => {
	const dir = await mkdtemp(join(tmpdir(), 'gavel-archive-'))
	const path = join(dir, 'archive.sqlite')
	try {
		const first = createSqliteArchive({ path })
		expect(await first.migrate()).toEqual(SQLITE_MIGRATIONS.map((m) => m.version))
		const a = auctionEvents()
		await first.write([a.created(), a.bid('bob', 1000)])
		await first.close()

		const again = createSqliteArchive({ path })
		expect(await again.migrate()).toEqual([])
		expect((await again.bids(a.auction, { order: 'desc', limit: 10 }))!.map((e) => e.seq)).toEqual([1])
		await again.close()

		const db = new Database(path)
		expect(db.query<{ journal_mode: string }, []>('pragma journal_mode').get()!.journal_mode).toBe('wal')
		expect(migrateSqlite(db)).toEqual([])
		expect(db.query<{ n: number }, []>('select count(*) as n from gavel_migrations').get()!.n).toBe(SQLITE_MIGRATIONS.length)
		db.close()
	} finally {
		await rm(dir, { recursive: true, force: true })
	}
})
