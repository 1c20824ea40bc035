/**
 * Flags for the Bun runtime that runs `gavel serve`: the package scripts (`bun start`, `bun run dev`,
 * `bun run gavel`) pass the same ones, and the compiled binary carries them (scripts/build.ts);
 * tests/unit/runtime-flags.test.ts holds the three together.
 *
 * --max-http-header-size: Bun answers a request head over its limit (16 KiB by default) with a bare
 * 431 and no body before gavel sees it. At 128 KiB, a long URL (up to ~100 kB) reaches gavel, which
 * refuses anything over MAX_URL_BYTES (8 KiB) with a JSON 414. Bun's limit stays the backstop.
 */
export const BUN_RUNTIME_FLAGS: readonly string[] = ['--max-http-header-size=131072']
