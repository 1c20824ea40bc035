#!/usr/bin/env bun
// `bun run build`: the one self-contained `gavel` binary (docs/design.md §1 and §8). Bun bundles the CLI,
// every module it imports, the Lua scripts and package.json (text and JSON imports) and its own
// runtime into one executable; each Bun Worker entry (`workers/<name>/index.ts`) rides along as an
// extra entrypoint, because bun cannot see which files `new Worker(…)` will load. The web page
// (docs/design.md §5b) is built first and its files are embedded too.
import { Glob, type BunPlugin } from 'bun'
import { rm, stat } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { BUN_RUNTIME_FLAGS } from './runtime-flags.ts'
import { buildWebFiles, type WebFile } from '../src/modules/web/assets.ts'

/** The repository root: entrypoints are named by their path from here. */
export const ROOT = resolve(import.meta.dir, '..')
export const CLI_ENTRYPOINT = 'src/cli/main.ts'
export const DEFAULT_OUTFILE = 'dist/gavel'

export interface BuildOptions {
	/** Where the executable goes. */
	outfile: string
	/** Default: the repository root. */
	root?: string
	/** Path from `root`; default the gavel CLI. */
	entrypoint?: string
	/** Paths from `root` of the Worker entries to embed; default every `workers/*\/index.ts` that exists. */
	workers?: string[]
}

export interface BuiltBinary {
	outfile: string
	/** Paths from the root, the main one first. */
	entrypoints: string[]
	bytes: number
	buildMs: number
	/** The web page's files embedded in it (none for another entrypoint than gavel's). */
	webFiles: string[]
}

/** The module that holds the web page's files: null from source, the built files in the binary. */
const EMBEDDED_WEB_MODULE = /[\\/]src[\\/]modules[\\/]web[\\/]embedded\.ts$/

/**
 * embedWebFiles replaces src/modules/web/embedded.ts, in this build only, with a module that
 * holds the page's built files, so that the binary serves them without its sources.
 */
function embedWebFiles(files: readonly WebFile[]): BunPlugin {
	return {
		name: 'gavel-embed-web-files',
		setup(build) {
			build.onLoad({ filter: EMBEDDED_WEB_MODULE }, () => ({
				contents: `export const embeddedWebFiles = ${JSON.stringify(files)}\n`,
				loader: 'js',
			}))
		},
	}
}

/** workerEntrypoints lists the Worker entries under `root` (`workers/<name>/index.ts`), sorted; none is fine. */
export async function workerEntrypoints(root = ROOT): Promise<string[]> {
	const found = await Array.fromAsync(new Glob('workers/*/index.ts').scan({ cwd: root, onlyFiles: true }))
	return found.sort()
}

/**
 * buildBinary compiles one executable. Inside it, an extra entrypoint lives at
 * `/$bunfs/root/<its path from root>` (hence the explicit `root`), which is where
 * src/lib/worker-url.ts looks for it.
 */
export async function buildBinary(options: BuildOptions): Promise<BuiltBinary> {
	const started = performance.now()
	const root = options.root ?? ROOT
	const entrypoints = [options.entrypoint ?? CLI_ENTRYPOINT, ...(options.workers ?? (await workerEntrypoints(root)))]
	const webFiles = options.entrypoint === undefined || options.entrypoint === CLI_ENTRYPOINT ? await buildWebFiles(root) : []
	const result = await Bun.build({
		entrypoints: entrypoints.map((path) => join(root, path)),
		root,
		target: 'bun',
		// ESM so that top-level await keeps working with bytecode.
		format: 'esm',
		minify: true,
		// Parsed at build time, not at every start: cold start ~40 ms instead of ~110 ms.
		bytecode: true,
		// The map is embedded (zstd) so stack traces name the .ts files; the copies written beside the binary go.
		sourcemap: 'linked',
		plugins: webFiles.length > 0 ? [embedWebFiles(webFiles)] : [],
		compile: {
			outfile: options.outfile,
			// Configuration is the environment alone (docs/design.md §1): no .env or bunfig.toml picked up from the working directory.
			autoloadDotenv: false,
			autoloadBunfig: false,
			// The runtime flags `bun start` passes (a long URL gets gavel's JSON 414, not Bun's bare 431).
			execArgv: [...BUN_RUNTIME_FLAGS],
		},
	})
	if (!result.success) throw new AggregateError(result.logs, `bun build --compile of ${entrypoints.join(', ')} failed`)
	for (const output of result.outputs) if (output.kind === 'sourcemap') await rm(output.path, { force: true })
	return {
		outfile: options.outfile,
		entrypoints,
		bytes: (await stat(options.outfile)).size,
		buildMs: Math.round(performance.now() - started),
		webFiles: webFiles.map((file) => file.name),
	}
}

if (import.meta.main) {
	const { values } = parseArgs({ options: { outfile: { type: 'string', default: DEFAULT_OUTFILE } } })
	const built = await buildBinary({ outfile: resolve(values.outfile) })
	const shown = relative(process.cwd(), built.outfile) || built.outfile
	console.log(
		`${shown}: ${(built.bytes / 2 ** 20).toFixed(1)} MiB in ${built.buildMs} ms from ${built.entrypoints.join(', ')}, with the web page (${built.webFiles.join(', ')})`,
	)
}
