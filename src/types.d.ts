// Lua scripts and SQL migrations are imported as text (`with { type: 'text' }`), so they ship inside the compiled binary.
declare module '*.lua' {
	const source: string
	export default source
}

declare module '*.sql' {
	const source: string
	export default source
}
