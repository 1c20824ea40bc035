import { afterEach, beforeEach, expect, test } from 'bun:test'
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
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

test('a secret file its group or everyone may write is refused, not trusted', async () => {
	const created = await loadOrCreateDevSecret(dir)
	for (const mode of [0o620, 0o602, 0o666]) {
		await chmod(devSecretPath(dir), mode)
		await expect(readDevSecret(dir)).rejects.toThrow(/writable by its group or by everyone .*chmod 600/)
		await expect(loadOrCreateDevSecret(dir)).rejects.toThrow(/writable/)
	}
	await chmod(devSecretPath(dir), 0o640)
	expect(await readDevSecret(dir)).toBe(created)
})

test('created whole with mode 0600 from the first byte, no temporary file left; concurrent starts agree', async () => {
	const dataDir = join(dir, 'data')
	const secrets = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevSecret(dataDir)))
	expect(new Set(secrets).size).toBe(1)
	expect(await readdir(dataDir)).toEqual(['dev-jwt-secret'])
	expect((await stat(devSecretPath(dataDir))).mode & 0o777).toBe(0o600)
	expect((await stat(dataDir)).mode & 0o077).toBe(0)
})
