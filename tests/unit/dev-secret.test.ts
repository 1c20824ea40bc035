import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { devSecretPath, loadOrCreateDevSecret, readDevSecret } from '../../src/auth/dev-secret.ts'

let dir: string
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-secret-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

test('reading never creates: no secret is null, and the data dir stays as it was', async () => {
	const dataDir = join(dir, 'data')
	expect(await readDevSecret(dataDir)).toBeNull()
	expect(await readdir(dir)).toEqual([])
	expect(devSecretPath('relative/data')).toBe(join(process.cwd(), 'relative/data/dev-jwt-secret'))
})

test('the server creates it once (owner-only), and token reads the same one', async () => {
	const dataDir = join(dir, 'data')
	const created = await loadOrCreateDevSecret(dataDir)
	expect(created.length).toBeGreaterThanOrEqual(32)
	expect((await stat(devSecretPath(dataDir))).mode & 0o777).toBe(0o600)
	expect(await readDevSecret(dataDir)).toBe(created)
	expect(await loadOrCreateDevSecret(dataDir)).toBe(created)
})

test('an unusable file counts as none: token refuses it, the server replaces it', async () => {
	await writeFile(join(dir, 'dev-jwt-secret'), 'short\n')
	expect(await readDevSecret(dir)).toBeNull()
	const replaced = await loadOrCreateDevSecret(dir)
	expect(replaced).not.toBe('short')
	expect(await readDevSecret(dir)).toBe(replaced)
})
