// A client generated from the served document with standard tools (openapi-typescript for the
// types, openapi-fetch to call): a correct create-auction + place-bid call type-checks and works
// against the listening gavel, and a wrong call does not type-check.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import openapiTS, { astToString } from 'openapi-typescript'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'

const ROOT = new URL('../..', import.meta.url).pathname
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')

let g: TestGavel
let dir: string
beforeAll(async () => {
	g = await startTestGavel()
	dir = await mkdtemp(join(tmpdir(), 'gavel-openapi-client-'))
	// The generated client resolves openapi-fetch and TypeScript's libs from the repository's node_modules.
	await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
	const document = await (await fetch(`${g.url}/openapi/json`)).json()
	await Bun.write(join(dir, 'gavel.ts'), astToString(await openapiTS(document as Parameters<typeof openapiTS>[0])))
	const compilerOptions = {
		strict: true,
		target: 'ES2022',
		module: 'ESNext',
		moduleResolution: 'Bundler',
		lib: ['ES2022', 'DOM'],
		types: [],
		noEmit: true,
		skipLibCheck: true,
	}
	await Bun.write(join(dir, 'tsconfig.right.json'), JSON.stringify({ compilerOptions, files: ['right.ts'] }))
	await Bun.write(join(dir, 'tsconfig.wrong.json'), JSON.stringify({ compilerOptions, files: ['wrong.ts'] }))
})
afterAll(async () => {
	await g.stop()
	await rm(dir, { recursive: true, force: true })
})

async function run(command: string[]) {
	const proc = Bun.spawn(command, { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '' } })
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	return { stdout, stderr, code }
}

/** A file that calls gavel through openapi-fetch with the generated `paths`, then `calls`. */
const clientFile = async (calls: string) => `import createClient from 'openapi-fetch'
import type { paths } from './gavel'

const client = createClient<paths>({ baseUrl: ${JSON.stringify(g.url)} })
const seller = { authorization: ${JSON.stringify(`Bearer ${await g.token('sam', ['seller'])}`)} }
const bidder = { authorization: ${JSON.stringify(`Bearer ${await g.token('bob')}`)} }
${calls}
`

test('a create-auction and place-bid call type-checks and runs against gavel', async () => {
	await Bun.write(
		join(dir, 'right.ts'),
		await clientFile(`
const created = await client.POST('/auctions', {
	body: { title: 'Lamp', startingPrice: 1000, increment: [{ from: 0, step: 100 }], endsAt: Date.now() + 600_000 },
	headers: seller,
})
if (!created.data) throw new Error(\`not created: \${created.error?.error.code}\`)
const id: string = created.data.id
const placed = await client.POST('/auctions/{id}/bids', { params: { path: { id } }, body: { amount: 1200 }, headers: bidder })
if (!placed.data) throw new Error(\`not placed: \${placed.error?.error.code}\`)
const price: number | null = placed.data.auction.price
const low = await client.POST('/auctions/{id}/bids', { params: { path: { id } }, body: { amount: 1250 }, headers: bidder })
// A refusal is typed as the Error body.
const refused: string | undefined = low.error?.error.code
const minimum: number | undefined = low.error?.error.minimum
console.log(JSON.stringify({ id, status: placed.response.status, leading: placed.data.leading, price, refused, minimum }))
`),
	)
	const checked = await run([process.execPath, TSC, '-p', 'tsconfig.right.json'])
	expect({ code: checked.code, errors: checked.stdout }).toEqual({ code: 0, errors: '' })
	const ran = await run([process.execPath, 'right.ts'])
	expect(ran.stderr).toBe('')
	expect(JSON.parse(ran.stdout)).toMatchObject({ status: 201, leading: true, price: 1200, refused: 'TOO_LOW', minimum: 1300 })
})

test('a wrong call does not type-check: an amount as a string, an auction without endsAt', async () => {
	await Bun.write(
		join(dir, 'wrong.ts'),
		await clientFile(`
await client.POST('/auctions/{id}/bids', { params: { path: { id: 'a1' } }, body: { amount: '1200' }, headers: bidder })
await client.POST('/auctions', { body: { title: 'Lamp', startingPrice: 1000, increment: 100 }, headers: seller })
`),
	)
	const checked = await run([process.execPath, TSC, '-p', 'tsconfig.wrong.json'])
	expect(checked.code).not.toBe(0)
	// One block per error: its `wrong.ts(line,col)` line and the indented explanation under it.
	const errors = checked.stdout.split(/^(?=wrong\.ts\()/m).filter((block) => block.startsWith('wrong.ts('))
	// One error on each wrong line (lines 8 and 9 of the file), for the reason it is wrong.
	expect(errors.map((line) => Number(/^wrong\.ts\((\d+),/.exec(line)?.[1]))).toEqual([8, 9])
	expect(errors[0]).toContain("Type 'string' is not assignable to type 'number'")
	expect(errors[1]).toContain("Property 'endsAt' is missing")
})
