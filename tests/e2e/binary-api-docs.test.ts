// The API reference served by the compiled binary, run from a folder outside the repository: the
// Scalar bundle must be inside the executable (an import `with { type: 'file' }`), not read from
// node_modules, so the reference works wherever the binary goes, offline included.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildBinary, ROOT } from '../../scripts/build.ts'
import { spawnServe, type ServeProcess } from '../helpers/process.ts'

let dir: string
let binary: string
let serve: ServeProcess

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-binary-docs-'))
	binary = (await buildBinary({ outfile: join(dir, 'gavel') })).outfile
	serve = await spawnServe({ DATA_DIR: join(dir, 'data') }, { command: [binary], cwd: dir })
}, 120_000)

afterAll(async () => {
	if (serve) {
		serve.proc.kill('SIGTERM')
		const exited = await Promise.race([serve.proc.exited, Bun.sleep(15_000).then(() => null)])
		if (exited === null) serve.proc.kill('SIGKILL')
	}
	await rm(dir, { recursive: true, force: true })
})

test('the binary serves the reference page, its script (the embedded Scalar bundle) and the document', async () => {
	const html = await (await fetch(`${serve.url}/openapi`)).text()
	const src = /<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/i.exec(html)?.[1]
	expect(src).toBe('openapi/scalar.js')
	const script = await fetch(new URL(src!, `${serve.url}/openapi`), { headers: { 'accept-encoding': 'identity' } })
	expect(script.status).toBe(200)
	const expected = await Bun.file(join(ROOT, 'node_modules/@scalar/api-reference/dist/browser/standalone.js')).bytes()
	expect(Buffer.from(await script.arrayBuffer()).equals(Buffer.from(expected))).toBe(true)
	// Inside the executable itself, not read from the repository's node_modules at run time.
	expect(Buffer.from(await Bun.file(binary).bytes()).indexOf(Buffer.from(expected))).toBeGreaterThan(-1)
	const document = (await (await fetch(`${serve.url}/openapi/json`)).json()) as { openapi: string; components: { schemas: Record<string, unknown> } }
	expect(document.openapi).toStartWith('3.1.')
	expect(document.components.schemas).toHaveProperty('Error')
})
