import { parseArgs } from 'node:util'
import { UsageError } from './args.ts'

/**
 * One table per command: the same data gives parseArgs its options, checks what parseArgs
 * cannot (required options, choices, the positional arguments) and renders `--help`, so the
 * help can never drift from what the command accepts.
 */
export interface OptionSpec {
	readonly name: string
	readonly type: 'string' | 'boolean'
	readonly short?: string
	readonly multiple?: boolean
	/** The value's placeholder in help: CENTS, DURATION, URL… */
	readonly value?: string
	readonly help: string
	/** The value when the option is left out (string options); shown in help. */
	readonly default?: string
	/** What help says about a default that is not a literal, e.g. `$GAVEL_URL, else http://localhost:3000`. */
	readonly defaultHelp?: string
	readonly required?: boolean
	readonly choices?: readonly string[]
}

export interface ArgumentSpec {
	readonly name: string
	readonly help: string
	readonly optional?: boolean
}

type OptionValue<O extends OptionSpec> = O['type'] extends 'boolean'
	? boolean
	: O['multiple'] extends true
		? string[]
		: O extends { default: string } | { required: true }
			? string
			: string | undefined

export type Values<Os extends readonly OptionSpec[]> = { [O in Os[number] as O['name']]: OptionValue<O> }
export type Args<As extends readonly ArgumentSpec[]> = {
	[A in As[number] as A['name']]: A extends { optional: true } ? string | undefined : string
}

export interface CommandSpec<Os extends readonly OptionSpec[], As extends readonly ArgumentSpec[]> {
	/** As typed after the program: `bid`, `auction create`. */
	readonly name: string
	/** One line for the command list. */
	readonly summary: string
	/** A paragraph under the usage line. */
	readonly description?: string
	readonly args?: As
	readonly options: Os
	/** Environment variables the command reads, with their meaning. */
	readonly env?: ReadonlyArray<readonly [name: string, meaning: string]>
	/** Example lines for `program` (how gavel was started: `bun run gavel`, `dist/gavel`); `# …` lines are comments. */
	examples(program: string): string[]
	/** `program` is how gavel was started, for messages that suggest a command. */
	run(input: { values: Values<Os>; args: Args<As>; program: string }): Promise<number>
}

/** A command with its types erased, as the dispatcher and the help need it. */
export interface Command {
	readonly name: string
	readonly summary: string
	help(program: string): string
	/** Parses `argv` (what follows the command's name) and runs it; `--help`/`-h` print the help instead. */
	run(argv: string[], program: string): Promise<number>
}

const HELP_OPTION = { name: 'help', short: 'h', type: 'boolean', help: 'show this help' } as const satisfies OptionSpec

export function defineCommand<const Os extends readonly OptionSpec[], const As extends readonly ArgumentSpec[] = []>(spec: CommandSpec<Os, As>): Command {
	const options: readonly OptionSpec[] = [...spec.options, HELP_OPTION]
	const args: readonly ArgumentSpec[] = spec.args ?? []
	return {
		name: spec.name,
		summary: spec.summary,
		help: (program) => renderHelp(spec, options, args, program),
		async run(argv, program) {
			if (asksForHelp(argv)) {
				console.log(renderHelp(spec, options, args, program))
				return 0
			}
			const parsed = parse(options, argv)
			return spec.run({ values: parsed.values as Values<Os>, args: bindArguments(args, parsed.positionals) as Args<As>, program })
		},
	}
}

/** asksForHelp: --help or -h anywhere before `--` wins over every other mistake on the line. */
function asksForHelp(argv: string[]): boolean {
	const end = argv.indexOf('--')
	return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')
}

function parse(options: readonly OptionSpec[], argv: string[]) {
	let parsed: { values: Record<string, string | boolean | Array<string | boolean> | undefined>; positionals: string[] }
	try {
		parsed = parseArgs({
			args: argv,
			allowPositionals: true,
			strict: true,
			options: Object.fromEntries(options.map((o) => [o.name, parseArgsOption(o)])),
		})
	} catch (err) {
		if (!(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw err
		throw new UsageError(parseArgsMessage(err as Error))
	}
	for (const option of options) {
		const value = parsed.values[option.name]
		if (option.required && value === undefined) throw new UsageError(`--${option.name} is required (${option.help})`)
		if (option.choices && value !== undefined)
			for (const one of [value].flat())
				if (!option.choices.includes(String(one)))
					throw new UsageError(`--${option.name} must be ${orList(option.choices)}, got ${JSON.stringify(one)}`)
	}
	return parsed
}

/** parseArgs checks every key it is given, so a key left undefined must be left out. */
function parseArgsOption(o: OptionSpec) {
	return {
		type: o.type,
		...(o.short === undefined ? {} : { short: o.short }),
		...(o.multiple ? { multiple: true } : {}),
		...(o.default === undefined ? {} : { default: o.default }),
	}
}

function bindArguments(specs: readonly ArgumentSpec[], positionals: string[]): Record<string, string | undefined> {
	const missing = specs.filter((a, i) => !a.optional && positionals[i] === undefined)
	if (missing.length > 0) throw new UsageError(`missing ${missing.map((a) => a.name).join(' and ')} (${missing.map((a) => a.help).join('; ')})`)
	if (positionals.length > specs.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[specs.length])}`)
	return Object.fromEntries(specs.map((a, i) => [a.name, positionals[i]]))
}

/** parseArgsMessage turns node:util's messages ("Unknown option '--foo'. To specify…") into one short line. */
function parseArgsMessage(err: Error & { code?: string }): string {
	const option = /'(-[^' ]+)/.exec(err.message)?.[1]
	if (option === undefined) return err.message.split('\n')[0]!
	switch (err.code) {
		case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
			return `unknown option ${option}`
		case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
			if (err.message.includes('does not take an argument')) return `${option} takes no value`
			if (err.message.includes('ambiguous')) return `${option} needs a value (one that starts with - goes as ${option}=-…)`
			return `${option} needs a value`
		default:
			return err.message.split('\n')[0]!
	}
}

const orList = (items: readonly string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`)

function optionLabel(o: OptionSpec): string {
	const long = `--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
	return o.short ? `-${o.short}, ${long}` : long
}

function optionHelp(o: OptionSpec): string {
	const notes: string[] = []
	if (o.choices) notes.push(`one of ${o.choices.join(', ')}`)
	if (o.multiple) notes.push('repeatable')
	if (o.required) notes.push('required')
	const fallback = o.defaultHelp ?? o.default
	if (fallback !== undefined) notes.push(`default: ${fallback}`)
	return notes.length > 0 ? `${o.help} (${notes.join('; ')})` : o.help
}

/** rows aligns label/text pairs in two columns; a label too long for the column puts its text on the next line. */
export function rows(pairs: ReadonlyArray<readonly [string, string]>, indent = '  '): string {
	const width = Math.min(28, Math.max(...pairs.map(([label]) => label.length)))
	return pairs
		.map(([label, text]) =>
			label.length > width ? `${indent}${label}\n${indent}${' '.repeat(width + 2)}${text}` : `${indent}${label.padEnd(width)}  ${text}`,
		)
		.join('\n')
}

export function usageLine(spec: { name: string; args?: readonly ArgumentSpec[]; options: readonly OptionSpec[] }, program: string): string {
	const parts = [program, spec.name]
	for (const a of spec.args ?? []) parts.push(a.optional ? `[${a.name}]` : a.name)
	for (const o of spec.options) if (o.required) parts.push(optionLabel(o))
	if (spec.options.some((o) => !o.required)) parts.push('[options]')
	return parts.join(' ')
}

function renderHelp(
	spec: CommandSpec<readonly OptionSpec[], readonly ArgumentSpec[]>,
	options: readonly OptionSpec[],
	args: readonly ArgumentSpec[],
	program: string,
): string {
	const sections = [`gavel ${spec.name}: ${spec.summary}`, `Usage:\n  ${usageLine({ name: spec.name, args, options }, program)}`]
	if (spec.description) sections.push(spec.description)
	if (args.length > 0) sections.push(`Arguments:\n${rows(args.map((a) => [a.name, a.help]))}`)
	sections.push(`Options:\n${rows(options.map((o) => [optionLabel(o), optionHelp(o)]))}`)
	if (spec.env && spec.env.length > 0) sections.push(`Environment:\n${rows(spec.env)}`)
	const examples = spec.examples(program)
	const count = examples.filter((line) => !line.startsWith('#')).length
	sections.push(`${count > 1 ? 'Examples' : 'Example'}:\n${examples.map((line) => `  ${line}`).join('\n')}`)
	return sections.join('\n\n')
}
