#!/usr/bin/env bun
import { ConfigError, DEFAULT_GAVEL_URL } from '../config.ts'
import { StartupError } from '../errors.ts'
import { CliError, UsageError } from './args.ts'
import { COMMANDS, serveCommand, versionCommand } from './commands/index.ts'
import { programName } from './program.ts'
import { rows, type Command } from './spec.ts'

const program = programName()
const HELP_FLAGS = new Set(['--help', '-h'])

/** overview is `gavel --help`: every command and where to read more. */
function overview(): string {
	return [
		'gavel: real-time auction bidding',
		`Usage:\n  ${program} <command> [options]\n  ${program} <command> --help      the command's options, defaults and an example`,
		`Commands:\n${rows(COMMANDS.map((c) => [c.name, c.summary]))}`,
		`Client commands talk to --url (default $GAVEL_URL, else ${DEFAULT_GAVEL_URL}) with --token (default $GAVEL_TOKEN).\n` +
			'Amounts are whole minor units (cents): 1250 is 12.50. Exit status: 0 done, 1 failed, 2 a mistake in the command line.',
	].join('\n\n')
}

/** groupHelp is `gavel auction --help`: the subcommands of one word. */
function groupHelp(group: string): string {
	const members = COMMANDS.filter((c) => c.name.startsWith(`${group} `))
	return `Usage:\n  ${program} ${group} <${members.map((c) => c.name.slice(group.length + 1)).join('|')}> [options]\n\n${rows(members.map((c) => [c.name, c.summary]))}\n\nMore on each: ${program} ${members[0]!.name} --help`
}

type Found = { command: Command; rest: string[] } | { group: string; rest: string[] } | null

/** find matches the longest command name at the start of argv (`auction create` before `auction`). */
function find(argv: string[]): Found {
	for (const command of COMMANDS) {
		const words = command.name.split(' ')
		if (words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(words.length) }
	}
	const group = argv[0]
	if (group !== undefined && COMMANDS.some((c) => c.name.startsWith(`${group} `))) return { group, rest: argv.slice(1) }
	return null
}

/** closest suggests the command a typo meant (edit distance ≤ 2). */
function closest(word: string): string | undefined {
	const distance = (a: string, b: string) => {
		let row = Array.from({ length: b.length + 1 }, (_, i) => i)
		for (let i = 1; i <= a.length; i++) {
			const next = [i]
			for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
			row = next
		}
		return row[b.length]!
	}
	const names = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))]
	return names.map((name) => ({ name, d: distance(word, name) })).filter((x) => x.d <= 2).sort((x, y) => x.d - y.d)[0]?.name
}

/** unknownCommand is a usage mistake before any command: one line, a guess, the command names (exit 2). */
function unknownCommand(words: string[]): number {
	const guess = closest(words[0]!)
	const line = `gavel: unknown command ${JSON.stringify(words.join(' '))}${guess ? ` (did you mean ${guess}?)` : ''}`
	console.error(`${line}\ncommands: ${COMMANDS.map((c) => c.name).join(', ')}\nsee: ${program} --help`)
	return 2
}

/** runGroup answers a group word without a known subcommand: its help when asked, else a usage mistake. */
function runGroup(group: string, sub: string | undefined, helping: boolean): number {
	if (helping || (sub !== undefined && HELP_FLAGS.has(sub))) {
		console.log(groupHelp(group))
		return 0
	}
	console.error(`gavel ${group}: ${sub === undefined ? 'which one?' : `unknown command ${JSON.stringify(`${group} ${sub}`)}`}\n\n${groupHelp(group)}`)
	return 2
}

async function main(argv: string[]): Promise<number> {
	const [first] = argv
	// `gavel` alone serves, as the image's default command does.
	if (first === undefined) return serveCommand.run([], program)
	if (first === '--version' || first === '-v') return versionCommand.run([], program)
	const helping = first === 'help'
	const words = helping ? argv.slice(1) : argv
	if (HELP_FLAGS.has(first) || words.length === 0) {
		console.log(overview())
		return 0
	}
	const found = find(words)
	if (found === null) return unknownCommand(words)
	if ('group' in found) return runGroup(found.group, found.rest[0], helping)
	if (helping) {
		console.log(found.command.help(program))
		return 0
	}
	try {
		return await found.command.run(found.rest, program)
	} catch (err) {
		if (!(err instanceof UsageError)) throw err
		// One line and where the help is, never a stack.
		console.error(`gavel ${found.command.name}: ${err.message}\nsee: ${program} ${found.command.name} --help`)
		return 2
	}
}

main(Bun.argv.slice(2)).then(
	(code) => process.exit(code),
	(err) => {
		if (err instanceof ConfigError || err instanceof StartupError || err instanceof CliError) console.error(`gavel: ${err.message}`)
		else console.error('gavel:', err)
		process.exit(1)
	},
)
