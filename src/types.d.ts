// Lua scripts and SQL migrations are imported as text (`with { type: 'text' }`), so they ship inside the compiled binary.
declare module '*.lua' {
	const source: string
	export default source
}

declare module '*.sql' {
	const source: string
	export default source
}

// The hash slot of a key, as Redis Cluster computes it (the library ioredis itself uses; it ships no types).
declare module 'cluster-key-slot' {
	export default function calculateSlot(key: string): number
}
