// `bun start`, the other package scripts that serve, and the compiled binary run Bun with the same
// flags: the limits a client meets must not depend on how gavel was started.
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { BUN_RUNTIME_FLAGS } from '../../scripts/runtime-flags.ts'

const ROOT = join(import.meta.dir, '../..')

test('every package script that runs gavel passes the runtime flags', async () => {
	const { scripts } = (await Bun.file(join(ROOT, 'package.json')).json()) as { scripts: Record<string, string> }
	for (const name of ['start', 'dev', 'gavel']) {
		const script = scripts[name]!
		expect(script).toContain('src/cli/main.ts')
		for (const flag of BUN_RUNTIME_FLAGS) expect(script).toContain(` ${flag} `)
	}
})

test('the compiled binary carries them', async () => {
	const build = await Bun.file(join(ROOT, 'scripts/build.ts')).text()
	expect(build).toContain('execArgv: [...BUN_RUNTIME_FLAGS]')
})
