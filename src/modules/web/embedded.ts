import type { WebFile } from './assets.ts'

/**
 * The web page's built files inside the compiled binary. From source this is null and gavel builds
 * the page with Bun's bundler on its first request; `bun run build` (scripts/build.ts) builds the
 * page first and replaces this module with one that holds those files, so the binary serves them
 * without its sources or a bundler run.
 */
export const embeddedWebFiles: readonly WebFile[] | null = null
