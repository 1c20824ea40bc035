// Lua scripts are imported as text (`with { type: 'text' }`), so they ship inside the compiled binary.
declare module '*.lua' {
	const source: string
	export default source
}
