import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import { UsageError } from '../../src/cli/args.ts'
import { COMMANDS } from '../../src/cli/commands/index.ts'
import { banner, tokenHint } from '../../src/cli/commands/serve.ts'
import { programName, shellQuote } from '../../src/cli/program.ts'
import { defineCommand } from '../../src/cli/spec.ts'

/** A command that records what it was given, defined like the real ones. */
const ran: unknown[] = []
const sample = defineCommand({
	name: 'thing make',
	summary: 'make a thing',
	args: [{ name: 'NAME', help: 'what to call it' }],
	options: [
		{ name: 'size', type: 'string', value: 'N', required: true, help: 'how big' },
		{ name: 'color', type: 'string', value: 'COLOR', choices: ['red', 'blue'], multiple: true, help: 'its colors' },
		{ name: 'ttl', type: 'string', value: 'DURATION', default: '1h', help: 'how long it lasts' },
		{ name: 'dry-run', type: 'boolean', help: 'only pretend' },
	],
	examples: (gavel) => ['# a big one', `${gavel} thing make box --size 3`],
	async run(input) {
		ran.push(input)
		return 0
	},
})

const usageError = async (argv: string[]) => {
	try {
		await sample.run(argv, 'gavel')
	} catch (err) {
		expect(err).toBeInstanceOf(UsageError)
		return (err as Error).message
	}
	throw new Error(`accepted ${argv.join(' ')}`)
}

afterEach(() => {
	ran.length = 0
})

describe('a command defined by its table', () => {
	test('parses options and arguments into typed values, with defaults', async () => {
		expect(await sample.run(['box', '--size', '3', '--color', 'red', '--color', 'blue', '--dry-run'], 'gavel')).toBe(0)
		expect(ran).toEqual([{ values: { size: '3', color: ['red', 'blue'], ttl: '1h', 'dry-run': true }, args: { NAME: 'box' }, program: 'gavel' }])
	})

	test('every mistake is one line naming what is wrong', async () => {
		expect(await usageError(['box', '--size', '3', '--colour', 'red'])).toBe('unknown option --colour')
		expect(await usageError(['box', '--size'])).toBe('--size needs a value')
		expect(await usageError(['box', '--size', '3', '--dry-run=yes'])).toBe('--dry-run takes no value')
		expect(await usageError(['box'])).toBe('--size is required (how big)')
		expect(await usageError(['box', '--size', '3', '--color', 'green'])).toBe('--color must be red or blue, got "green"')
		expect(await usageError(['--size', '3'])).toBe('missing NAME (what to call it)')
		expect(await usageError(['box', 'crate', '--size', '3'])).toBe('unexpected argument "crate"')
		expect(ran).toEqual([])
	})

	test('--help and -h print the help instead of running, whatever else is missing', async () => {
		const log = spyOn(console, 'log').mockImplementation(() => {})
		try {
			expect(await sample.run(['--help'], 'bun run gavel')).toBe(0)
			expect(await sample.run(['-h', '--nonsense'], 'bun run gavel')).toBe(0)
			expect(log.mock.calls.map((c) => c[0])).toEqual([sample.help('bun run gavel'), sample.help('bun run gavel')])
		} finally {
			log.mockRestore()
		}
		expect(ran).toEqual([])
	})

	test('the help comes from the same table: usage, each option with its meaning and default, the example', () => {
		expect(sample.help('bun run gavel')).toBe(
			[
				'gavel thing make: make a thing',
				'',
				'Usage:',
				'  bun run gavel thing make NAME --size N [options]',
				'',
				'Arguments:',
				'  NAME  what to call it',
				'',
				'Options:',
				'  --size N        how big (required)',
				'  --color COLOR   its colors (one of red, blue; repeatable)',
				'  --ttl DURATION  how long it lasts (default: 1h)',
				'  --dry-run       only pretend',
				'  -h, --help      show this help',
				'',
				'Example:',
				'  # a big one',
				'  bun run gavel thing make box --size 3',
			].join('\n'),
		)
	})
})

describe('every gavel command', () => {
	test('is listed once, in the order of the overview', () => {
		expect(COMMANDS.map((c) => c.name)).toEqual(['serve', 'token', 'auction create', 'auction list', 'auction show', 'bid', 'watch', 'health', 'migrate', 'version'])
	})

	for (const command of COMMANDS)
		test(`${command.name} has a usage line, options with their meaning and an example for how it was started`, () => {
			const help = command.help('dist/gavel')
			expect(help).toContain(`Usage:\n  dist/gavel ${command.name}`)
			expect(help).toContain('  -h, --help')
			expect(help).toMatch(new RegExp(`Examples?:\\n(  #.*\\n)?  .*dist/gavel ${command.name}`))
			// No option goes without a meaning.
			for (const line of help.split('Options:\n')[1]!.split('\n\n')[0]!.split('\n')) expect(line).toMatch(/^  -\S.*\S {2,}\S/)
		})
})

describe('how gavel was started', () => {
	test('compiled: the binary as invoked; from a clone: bun run gavel; elsewhere: bun and the path', () => {
		expect(programName({ main: '/$bunfs/root/gavel', argv0: 'dist/gavel', cwd: '/srv' })).toBe('dist/gavel')
		expect(programName({ main: '/$bunfs/root/gavel', argv0: 'gavel', cwd: '/srv' })).toBe('gavel')
		expect(programName({ main: '/home/me/gavel/src/cli/main.ts', argv0: 'bun', cwd: '/home/me/gavel' })).toBe('bun run gavel')
		expect(programName({ main: '/home/me/gavel/src/cli/main.ts', argv0: 'bun', cwd: '/home/me' })).toBe('bun gavel/src/cli/main.ts')
		expect(programName({ main: '/opt/my gavel/src/cli/main.ts', argv0: 'bun', cwd: '/tmp' })).toBe(`bun '/opt/my gavel/src/cli/main.ts'`)
		expect(shellQuote("it's")).toBe(`'it'\\''s'`)
	})

	test('the banner suggests a token command that works from here, naming DATA_DIR unless it is the default', () => {
		expect(tokenHint('bun run gavel', './data')).toBe('bun run gavel token --sub alice --role seller')
		expect(tokenHint('/app/gavel', '/data')).toBe('DATA_DIR=/data /app/gavel token --sub alice --role seller')
		const gavel = { url: 'http://localhost:3000', adapters: { store: 'memory', bus: 'local', archive: 'sqlite' }, devSecret: true } as const
		expect(banner(gavel, './data', 'dist/gavel')).toContain('get a token:  dist/gavel token --sub alice --role seller')
		expect(banner({ ...gavel, devSecret: false }, './data', 'dist/gavel')).toContain('tokens come from your identity provider')
		// With the api role it names the web page (and says who may sign in there) and the API docs.
		expect(banner(gavel, './data', 'dist/gavel')).toContain('  web page:     http://localhost:3000   (sign in as anyone: the development secret)\n')
		expect(banner({ ...gavel, devSecret: false }, './data', 'dist/gavel')).toContain('  web page:     http://localhost:3000\n  API docs:     http://localhost:3000/openapi\n')
		expect(banner(gavel, './data', 'dist/gavel', false)).not.toMatch(/web page|API docs/)
	})
})
