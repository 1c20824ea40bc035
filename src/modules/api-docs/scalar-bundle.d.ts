// The Scalar API reference's browser bundle, imported `with { type: 'file' }`: Bun gives its path
// (inside the compiled binary, a `/$bunfs/…` path), not a module.
declare module '*/@scalar/api-reference/dist/browser/standalone.js' {
	const path: string
	export default path
}
