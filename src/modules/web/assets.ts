import { basename, resolve } from 'node:path'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import { embeddedWebFiles } from './embedded.ts'

/** One file the bundler made for the page: `main-1a2b3c4d.js`, its type and its text. */
export interface WebFile {
	name: string
	type: string
	text: string
}

/** A file as served: its bytes, their gzip when that is smaller, and a tag for revalidation. */
export interface ServedFile {
	name: string
	type: string
	body: Uint8Array
	gzipped: Uint8Array | null
	etag: string
}

/** The page's assets: the names its HTML links, and every file by name. */
export interface WebAssets {
	script: string
	style: string
	files: ReadonlyMap<string, ServedFile>
}

const ROOT = resolve(import.meta.dir, '../../..')
/** The page's one entry: it imports the components and the stylesheet. */
export const WEB_ENTRYPOINT = 'src/web/main.tsx'
/** Below this a gzip saves less than its header and the work. */
const GZIP_FROM_BYTES = 1024

/**
 * buildWebFiles runs Bun's bundler on the page: one minified script, one stylesheet and their
 * source maps, named by their content's hash so that a browser may keep them for good.
 */
export async function buildWebFiles(root = ROOT): Promise<WebFile[]> {
	const result = await Bun.build({
		entrypoints: [resolve(root, WEB_ENTRYPOINT)],
		target: 'browser',
		format: 'esm',
		minify: true,
		sourcemap: 'linked',
		naming: { entry: '[name]-[hash].[ext]', chunk: '[name]-[hash].[ext]', asset: '[name]-[hash].[ext]' },
		jsx: { runtime: 'automatic', importSource: 'preact' },
		define: { 'process.env.NODE_ENV': '"production"' },
		throw: false,
	})
	if (!result.success) throw new AggregateError(result.logs, `building the web page from ${WEB_ENTRYPOINT} failed`)
	return Promise.all(result.outputs.map(async (output) => ({ name: basename(output.path), type: output.type, text: await output.text() })))
}

const gzipAsync = promisify(gzip)

/** serveFiles prepares built files for serving: the gzips run off the event loop, bids do not wait behind them. */
export async function serveFiles(built: readonly WebFile[]): Promise<WebAssets> {
	const files = new Map<string, ServedFile>()
	for (const file of built) {
		const body = new TextEncoder().encode(file.text)
		const packed = body.byteLength >= GZIP_FROM_BYTES ? new Uint8Array(await gzipAsync(body)) : null
		const gzipped = packed !== null && packed.byteLength < body.byteLength ? packed : null
		files.set(file.name, { name: file.name, type: file.type, body, gzipped, etag: `"${Bun.hash(body).toString(36)}"` })
	}
	const named = (extension: string) => {
		const found = [...files.keys()].find((name) => name.startsWith('main-') && name.endsWith(extension))
		if (found === undefined) throw new Error(`the web build made no main-*${extension} (files: ${[...files.keys()].join(', ')})`)
		return found
	}
	return { script: named('.js'), style: named('.css'), files }
}

let loading: Promise<WebAssets> | undefined

/**
 * loadWebAssets gives the page's assets, made once: the files embedded in the binary, or from
 * source a build on first use (a failed build is tried again on the next request).
 */
export function loadWebAssets(): Promise<WebAssets> {
	loading ??= (async () => serveFiles(embeddedWebFiles ?? (await buildWebFiles())))().catch((err: unknown) => {
		loading = undefined
		throw err
	})
	return loading
}
