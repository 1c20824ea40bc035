#!/usr/bin/env bun
// `bun run build:client`: the typed client (src/client/) as an npm package in dist/client/, packed
// into a tarball there (docs/design.md §4 and §5 are the API and the protocol it speaks).
//
// - index.js: one ESM bundle made by Bun's bundler for Node (20+) and Bun, Eden's runtime inlined:
//   it imports nothing, so it cannot reach a Bun-only module.
// - types/: declarations emitted by tsc (tsconfig.client.json), but only the files the client's
//   declarations reach. src/app.ts is reduced to its `App` type (the routes as tsc spells them),
//   so none of the server's modules, and none of their packages (pino, ioredis…), ship. Relative
//   imports are rewritten from `.ts` to `.js`, as `module: nodenext` wants them.
// - package.json: the root's version; `dependencies` are exactly the packages the declarations
//   import, at the root's ranges (the bundle needs none).
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import ts from 'typescript'
import rootPackage from '../package.json' with { type: 'json' }

export const ROOT = resolve(import.meta.dir, '..')
/** On npm, `gavel` is another project's package; this name says what this one is. */
export const PACKAGE_NAME = 'gavel-auction-client'
export const CLIENT_ENTRYPOINT = 'src/client/index.ts'
export const DECLARATION_TSCONFIG = 'tsconfig.client.json'
export const DEFAULT_OUTDIR = 'dist/client'
/** The module whose `App` type the client is generic over; only that type of it ships. */
const APP_MODULE = 'src/app.ts'
/** The package's own README, shipped as README.md. */
const PACKAGE_README = 'src/client/README.md'
/** The oldest Node the client runs on (fetch, File and ESM; WebSocket needs `ws` before 22). */
const NODE_ENGINES = '>=20'

export interface BuildClientOptions {
	/** Where the package goes (emptied first). */
	outdir: string
	/** Default: the repository root. */
	root?: string
	/** Run `npm pack` (default true). */
	pack?: boolean
}

export interface BuiltClient {
	outdir: string
	/** The `npm pack` tarball, when packed. */
	tarball: string | null
	/** The generated package.json. */
	manifest: ClientManifest
	/** Declaration files, paths from `outdir`. */
	declarations: string[]
	bundleBytes: number
	buildMs: number
}

export interface ClientManifest {
	name: string
	version: string
	description: string
	type: 'module'
	exports: Record<string, string | { types: string; import: string }>
	types: string
	files: string[]
	sideEffects: false
	engines: { node: string }
	dependencies: Record<string, string>
	peerDependencies: Record<string, string>
	peerDependenciesMeta: Record<string, { optional: true }>
}

export async function buildClientPackage(options: BuildClientOptions): Promise<BuiltClient> {
	const started = performance.now()
	const root = options.root ?? ROOT
	const outdir = resolve(options.outdir)
	await emptyOutdir(outdir)

	const bundleBytes = await bundle(root, outdir)
	const { files: declarations, packages } = await emitDeclarations(root, join(outdir, 'types'))
	const manifest = clientManifest(packages)
	await writeFile(join(outdir, 'package.json'), `${JSON.stringify(manifest, null, '\t')}\n`)
	await cp(join(root, PACKAGE_README), join(outdir, 'README.md'))
	const tarball = options.pack === false ? null : await npmPack(outdir)
	return {
		outdir,
		tarball,
		manifest,
		declarations: declarations.map((file) => relative(outdir, file)),
		bundleBytes,
		buildMs: Math.round(performance.now() - started),
	}
}

/** emptyOutdir clears the last build; a folder that holds anything else is left alone (a typo in --outdir must not delete it). */
async function emptyOutdir(outdir: string): Promise<void> {
	const existing = await readdir(outdir).catch(() => [])
	if (existing.length > 0) {
		const manifest = (await Bun.file(join(outdir, 'package.json'))
			.json()
			.catch(() => null)) as { name?: string } | null
		if (manifest?.name !== PACKAGE_NAME) throw new Error(`${outdir} is not empty and holds no earlier ${PACKAGE_NAME} build: not emptying it`)
	}
	await rm(outdir, { recursive: true, force: true })
	await mkdir(outdir, { recursive: true })
}

/** bundle writes index.js (and its source map) and returns its size; it fails if the bundle imports anything. */
async function bundle(root: string, outdir: string): Promise<number> {
	const result = await Bun.build({
		entrypoints: [join(root, CLIENT_ENTRYPOINT)],
		outdir,
		naming: 'index.js',
		target: 'node',
		format: 'esm',
		sourcemap: 'linked',
	})
	if (!result.success) throw new AggregateError(result.logs, `bundling ${CLIENT_ENTRYPOINT} failed`)
	const file = join(outdir, 'index.js')
	const imports = new Bun.Transpiler({ loader: 'js' }).scanImports(await Bun.file(file).text())
	// Everything is inlined: an import left over would be a package the manifest does not list, or `bun:`.
	if (imports.length > 0) throw new Error(`the client bundle still imports ${imports.map((i) => i.path).join(', ')}: inline it or make the client not need it`)
	return (await stat(file)).size
}

/**
 * emitDeclarations writes the .d.ts files of the client entry and of what they import, following
 * the emitted imports from the entry, and returns them with the packages they import.
 */
async function emitDeclarations(root: string, typesDir: string): Promise<{ files: string[]; packages: Set<string> }> {
	const configPath = join(root, DECLARATION_TSCONFIG)
	const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
		...ts.sys,
		onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
			throw new Error(formatDiagnostics([diagnostic], root))
		},
	})
	if (!parsed) throw new Error(`cannot read ${configPath}`)
	if (parsed.errors.length > 0) throw new Error(formatDiagnostics(parsed.errors, root))
	const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options })
	const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
	if (global.length > 0) throw new Error(formatDiagnostics(global, root))

	const srcDir = join(root, 'src')
	const appFile = join(root, APP_MODULE)
	const queue = [join(root, CLIENT_ENTRYPOINT)]
	const seen = new Set(queue)
	const files: string[] = []
	const packages = new Set<string>()
	while (queue.length > 0) {
		const file = queue.shift()!
		const source = program.getSourceFile(file)
		if (!source) throw new Error(`${relative(root, file)} is imported by the client's declarations but is not in the program`)
		let declaration: string | undefined
		const emitted = program.emit(source, (name, text) => (name.endsWith('.d.ts') ? (declaration = text) : undefined), undefined, true)
		const problems = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source), ...emitted.diagnostics]
		if (problems.length > 0 || declaration === undefined)
			throw new Error(`no declarations for ${relative(root, file)}:\n${formatDiagnostics(problems, root)}`)
		if (file === appFile) declaration = appTypeOnly(declaration, relative(root, file))

		const { text, relativeImports, bareImports } = rewriteSpecifiers(declaration)
		for (const specifier of bareImports) packages.add(packageName(specifier))
		for (const specifier of relativeImports) {
			const target = resolve(dirname(file), specifier)
			if (!target.startsWith(`${srcDir}/`)) throw new Error(`${relative(root, file)} imports ${specifier}, outside src/`)
			if (!seen.has(target)) {
				seen.add(target)
				queue.push(target)
			}
		}
		const out = join(typesDir, relative(srcDir, file).replace(/\.ts$/, '.d.ts'))
		await mkdir(dirname(out), { recursive: true })
		await writeFile(out, text)
		files.push(out)
	}
	return { files, packages }
}

/**
 * appTypeOnly keeps of app.ts's declarations the `App` type alone: `ReturnType<typeof createApp>`
 * becomes the return type tsc wrote for `createApp`, and of the rest only the imports (and local
 * types) that type uses. `AppDeps` and everything it drags in (services, logger, metrics) go.
 */
export function appTypeOnly(declaration: string, fileName = 'app.d.ts'): string {
	const source = ts.createSourceFile('app.d.ts', declaration, ts.ScriptTarget.Latest, true)
	const alias = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'App')
	if (!alias) throw new Error(`${fileName} exports no \`type App\` for the client to be generic over`)
	let appType: ts.TypeNode = alias.type
	const returned = returnTypeOf(alias.type)
	if (returned !== null) {
		const fn = source.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === returned)
		if (!fn?.type) throw new Error(`${fileName}: \`App\` is the return type of ${returned}, whose declaration has no return type`)
		appType = fn.type
	}

	// The local declarations the type uses, and the ones those use in turn.
	const used = identifiers(appType)
	const kept = new Set<ts.Statement>()
	for (let grew = true; grew; ) {
		grew = false
		for (const statement of source.statements) {
			if (kept.has(statement) || statement === alias || ts.isImportDeclaration(statement) || ts.isFunctionDeclaration(statement)) continue
			const name = declaredName(statement)
			if (name === null || !used.has(name)) continue
			kept.add(statement)
			for (const id of identifiers(statement)) used.add(id)
			grew = true
		}
	}

	const lines: string[] = []
	for (const statement of source.statements) {
		if (ts.isImportDeclaration(statement)) {
			const line = importOfUsed(statement, used, source)
			if (line !== null) lines.push(line)
		} else if (kept.has(statement)) lines.push(statement.getFullText(source).trim())
	}
	lines.push(
		"/** gavel's HTTP API as a type: the Elysia app's routes with their bodies, queries and answers, for Eden's treaty client. */",
		`export type App = ${appType.getText(source)};`,
	)
	return `${lines.join('\n')}\n`
}

/** `ReturnType<typeof f>` → `f`; anything else → null. */
function returnTypeOf(type: ts.TypeNode): string | null {
	if (!ts.isTypeReferenceNode(type) || !ts.isIdentifier(type.typeName) || type.typeName.text !== 'ReturnType') return null
	const [argument] = type.typeArguments ?? []
	return argument && ts.isTypeQueryNode(argument) && ts.isIdentifier(argument.exprName) ? argument.exprName.text : null
}

function identifiers(node: ts.Node): Set<string> {
	const found = new Set<string>()
	const visit = (child: ts.Node) => {
		if (ts.isIdentifier(child)) found.add(child.text)
		ts.forEachChild(child, visit)
	}
	visit(node)
	return found
}

function declaredName(statement: ts.Statement): string | null {
	if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement))
		return statement.name?.text ?? null
	return null
}

/** The import statement narrowed to the names `used` has, as a type-only import; null when none is left. */
function importOfUsed(statement: ts.ImportDeclaration, used: Set<string>, source: ts.SourceFile): string | null {
	const from = statement.moduleSpecifier.getText(source)
	const clause = statement.importClause
	if (!clause) return null // a side-effect import means nothing in a declaration file
	const parts: string[] = []
	const bindings = clause.namedBindings
	if (bindings && ts.isNamespaceImport(bindings)) {
		if (used.has(bindings.name.text)) return `import type * as ${bindings.name.text} from ${from};`
	} else if (bindings) {
		const named = bindings.elements.filter((e) => used.has(e.name.text)).map((e) => (e.propertyName ? `${e.propertyName.text} as ${e.name.text}` : e.name.text))
		if (named.length > 0) parts.push(`{ ${named.join(', ')} }`)
	}
	if (clause.name && used.has(clause.name.text)) parts.unshift(clause.name.text)
	// A default import and named ones cannot share one `import type`: a default alone or the names alone.
	if (parts.length === 2) return `import type ${parts[0]} from ${from};\nimport type ${parts[1]} from ${from};`
	return parts.length === 1 ? `import type ${parts[0]} from ${from};` : null
}

/**
 * rewriteSpecifiers turns relative `./x.ts` specifiers (imports, exports and `import("…")` types)
 * into `./x.js`, and lists the relative (as written in the source) and the bare ones.
 */
export function rewriteSpecifiers(declaration: string): { text: string; relativeImports: string[]; bareImports: string[] } {
	const source = ts.createSourceFile('module.d.ts', declaration, ts.ScriptTarget.Latest, true)
	const literals: ts.StringLiteral[] = []
	const visit = (node: ts.Node) => {
		if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier))
			literals.push(node.moduleSpecifier)
		else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal))
			literals.push(node.argument.literal)
		ts.forEachChild(node, visit)
	}
	visit(source)
	const relativeImports: string[] = []
	const bareImports: string[] = []
	let text = declaration
	// From the end, so that earlier positions stay valid.
	for (const literal of literals.sort((a, b) => b.getStart(source) - a.getStart(source))) {
		const specifier = literal.text
		if (!specifier.startsWith('.')) {
			bareImports.push(specifier)
			continue
		}
		relativeImports.push(specifier)
		if (!specifier.endsWith('.ts')) throw new Error(`relative import ${specifier} has no .ts extension: the source must name the file it imports`)
		const quote = literal.getText(source)[0]
		text = `${text.slice(0, literal.getStart(source))}${quote}${specifier.replace(/\.ts$/, '.js')}${quote}${text.slice(literal.end)}`
	}
	return { text, relativeImports: relativeImports.reverse(), bareImports: bareImports.reverse() }
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
export function packageName(specifier: string): string {
	const parts = specifier.split('/')
	return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/** clientManifest is the package.json of the package; `packages` are what the declarations import. */
export function clientManifest(packages: Iterable<string>): ClientManifest {
	const ranges: Record<string, string> = rootPackage.dependencies
	const dependencies: Record<string, string> = {}
	for (const name of [...packages].sort()) {
		const range = ranges[name]
		if (range === undefined) throw new Error(`the client's declarations import ${name}, which is not a dependency in package.json`)
		dependencies[name] = range
	}
	const types = './types/client/index.d.ts'
	return {
		name: PACKAGE_NAME,
		version: rootPackage.version,
		description: "Typed client for gavel's auction API: HTTP calls checked against the server's routes, and watch() for live bids",
		type: 'module',
		exports: { '.': { types, import: './index.js' }, './package.json': './package.json' },
		types,
		files: ['index.js', 'index.js.map', 'types', 'README.md'],
		sideEffects: false,
		engines: { node: NODE_ENGINES },
		dependencies,
		// watch() on Node 20 and 21 (no global WebSocket): pass `ws`'s as the WebSocket option.
		peerDependencies: { ws: '>=8' },
		peerDependenciesMeta: { ws: { optional: true } },
	}
}

/** npmPack packs `dir` into a tarball inside it and returns the tarball's path. */
async function npmPack(dir: string): Promise<string> {
	if (!Bun.which('npm')) throw new Error('npm pack needs npm on the PATH (or build with --no-pack)')
	const proc = Bun.spawn(['npm', 'pack', '--json', '--pack-destination', dir], { cwd: dir, stdout: 'pipe', stderr: 'pipe' })
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	if (code !== 0) throw new Error(`npm pack failed (exit ${code}): ${stderr}`)
	const [packed] = JSON.parse(stdout) as Array<{ filename: string }>
	if (!packed) throw new Error(`npm pack printed no tarball: ${stdout}`)
	return join(dir, packed.filename)
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[], root: string): string {
	return ts.formatDiagnostics(diagnostics, {
		getCanonicalFileName: (name) => name,
		getCurrentDirectory: () => root,
		getNewLine: () => '\n',
	})
}

const USAGE = `Usage: bun run build:client [--outdir DIR] [--no-pack]

Builds the typed client as the npm package ${PACKAGE_NAME} into DIR (default ${DEFAULT_OUTDIR}):
index.js (ESM for Node ${NODE_ENGINES} and Bun), types/ (declarations), package.json and README.md,
then packs it with npm pack into DIR/${PACKAGE_NAME}-<version>.tgz.

  --outdir DIR   where the package goes (an earlier build there is replaced)
  --no-pack      skip npm pack
  -h, --help     this text
`

function parseCommandLine() {
	try {
		return parseArgs({
			options: {
				outdir: { type: 'string', default: DEFAULT_OUTDIR },
				'no-pack': { type: 'boolean', default: false },
				help: { type: 'boolean', short: 'h', default: false },
			},
		}).values
	} catch (error) {
		console.error(`build:client: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
		process.exit(2)
	}
}

if (import.meta.main) {
	const values = parseCommandLine()
	if (values.help) {
		console.log(USAGE)
		process.exit(0)
	}
	try {
		const built = await buildClientPackage({ outdir: values.outdir, pack: !values['no-pack'] })
		const shown = (path: string) => relative(process.cwd(), path) || path
		const dependencies = Object.entries(built.manifest.dependencies).map(([name, range]) => `${name}@${range}`)
		console.log(
			`${shown(built.outdir)}: ${built.manifest.name}@${built.manifest.version}, index.js ${(built.bundleBytes / 1024).toFixed(1)} KiB, ` +
				`${built.declarations.length} declaration files, depends on ${dependencies.join(', ')} (${built.buildMs} ms)`,
		)
		if (built.tarball) console.log(`packed: ${shown(built.tarball)}\ninstall: npm install ${built.tarball}`)
	} catch (error) {
		console.error(`build:client failed: ${error instanceof Error ? error.message : String(error)}`)
		process.exit(1)
	}
}
