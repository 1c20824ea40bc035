/**
 * workerUrl locates a Bun Worker entry, named by its path from the repository root
 * (`workers/archiver/index.ts`), so that `new Worker(workerUrl(…))` works both from source and
 * inside the compiled binary. Call it from the main program (src/), not from inside a worker.
 *
 * `new Worker(new URL('../workers/archiver/index.ts', import.meta.url))` works from source only:
 * `bun build --compile` bundles every module of the main program into one, whose import.meta.url
 * is the binary's own (`file:///$bunfs/root/gavel`), while it stores each extra entrypoint by its
 * path from the build root (`/$bunfs/root/workers/archiver/index.js`; scripts/build.ts makes that
 * root the repository). A bare `'./workers/…'` string is no better: from source it is read
 * relative to the working directory.
 */
export function workerUrl(pathFromRoot: string): URL {
	return Bun.isStandaloneExecutable ? new URL(`./${pathFromRoot}`, import.meta.url) : new URL(`../../${pathFromRoot}`, import.meta.url)
}
