// The README promises two commands: an install and a test run. CI must install exactly the way
// the README says, so that a README whose install misses something fails CI too.
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'

const ROOT = join(import.meta.dir, '../..')
const read = (file: string) => Bun.file(join(ROOT, file)).text()

/** Every `bun install …` (or `bun i`) command in a text, flags included. */
const installs = (text: string) => [...text.matchAll(/\bbun (?:install|i)\b([^\n&|;)]*)/g)].map((m) => m[1]!.trim())

describe('one install command sets up everything the tests need', async () => {
	const ci = await read('.ci/run')
	const pkg = (await Bun.file(join(ROOT, 'package.json')).json()) as { scripts: Record<string, string> }

	test('.ci/run installs with the plain root install only (held to the lockfile), nothing beside it', () => {
		const commands = ci.split('\n').filter((line) => !line.trim().startsWith('#') && !line.includes('log "'))
		expect(installs(commands.join('\n'))).toEqual(['--frozen-lockfile'])
		expect(ci).not.toMatch(/--cwd|cd pulumi/)
	})

	test("the root install's postinstall installs pulumi/, whose tests are part of the suite", async () => {
		expect(pkg.scripts.postinstall).toBe('bun scripts/postinstall.ts')
		const script = await read('scripts/postinstall.ts')
		expect(script).toContain("'install', '--frozen-lockfile'")
		expect(await Bun.file(join(ROOT, 'pulumi/package.json')).exists()).toBe(true)
	})

	test("the README's quick start is the install CI runs and the test command CI runs", async () => {
		const readme = await read('README.md')
		const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1))
		expect(quickStart).toContain('bun install && bun start')
		expect(quickStart).toContain('bun run check')
		expect(ci).toMatch(/\nbun run check /)
	})
})
