import { relative, resolve } from 'node:path'

/** Where a compiled Bun binary keeps its embedded entry point (`Bun.main` is `/$bunfs/root/…` inside one). */
const EMBEDDED_ROOT = '/$bunfs/'

export interface Invocation {
	/** `Bun.main`: the entry file, `/$bunfs/root/…` in a compiled binary. */
	main: string
	/** `process.argv0`: in a compiled binary, its path as it was typed (`dist/gavel`, `gavel` from PATH). */
	argv0: string
	cwd: string
}

const current = (): Invocation => ({ main: Bun.main, argv0: process.argv0, cwd: process.cwd() })

/**
 * programName is how a person runs this same gavel again from where it was started, for help
 * examples and the banner: the binary's path as invoked when compiled, `bun run gavel` from the
 * repository root (package.json's script), else `bun <path to main.ts>`.
 */
export function programName({ main, argv0, cwd }: Invocation = current()): string {
	if (main.startsWith(EMBEDDED_ROOT)) return shellQuote(argv0 || 'gavel')
	if (main === resolve(cwd, 'src/cli/main.ts')) return 'bun run gavel'
	const path = relative(cwd, main)
	return `bun ${shellQuote(path.startsWith('..') ? main : path)}`
}

/** shellQuote leaves plain words alone and single-quotes the rest, so a printed command can be pasted. */
export function shellQuote(word: string): string {
	return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}
