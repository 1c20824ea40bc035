import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'

const DEV_SECRET_FILE = 'dev-jwt-secret'

/**
 * devSecret returns the HS256 secret a development instance signs and verifies with: kept in
 * the data dir so `gavel token` and `gavel serve` agree across restarts. Never used in production.
 */
export async function devSecret(dataDir: string): Promise<string> {
	const path = join(dataDir, DEV_SECRET_FILE)
	const file = Bun.file(path)
	if (await file.exists()) {
		const secret = (await file.text()).trim()
		if (secret.length >= 32) return secret
	}
	await mkdir(dataDir, { recursive: true })
	const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
	await Bun.write(path, `${secret}\n`)
	await chmod(path, 0o600)
	return secret
}
