// The project explains itself: every design reference points at docs/design.md, and every
// section or anchor it names exists there. Reads the repository's files as text.
import { describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'

const ROOT = join(import.meta.dir, '../..')
const DESIGN = 'docs/design.md'

/** The tracked files, plus new ones not ignored yet (they are tracked once committed). */
function repositoryFiles(): string[] {
	const git = Bun.spawnSync(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
	if (git.exitCode !== 0) throw new Error(`git ls-files failed in ${ROOT}: ${git.stderr.toString()}`)
	const files = [...new Set(git.stdout.toString().split('\0').filter(Boolean))]
	return files.filter((file) => existsSync(join(ROOT, file))) // deleted but not yet staged
}

/** Text files only: a NUL byte marks a binary. */
async function readTextFiles(): Promise<Array<{ file: string; text: string }>> {
	const read = await Promise.all(
		repositoryFiles().map(async (file) => {
			const bytes = await Bun.file(join(ROOT, file)).bytes()
			return bytes.includes(0) ? null : { file, text: new TextDecoder().decode(bytes) }
		}),
	)
	return read.filter((entry) => entry !== null)
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length

/** GitHub's heading anchors: lower case, punctuation dropped, spaces become hyphens. */
const slugOf = (heading: string) =>
	heading
		.trim()
		.toLowerCase()
		.replace(/[^\p{L}\p{N}\s_-]/gu, '')
		.replace(/\s/g, '-')

interface Section {
	/** The section number as cited: `2`, `5b`. */
	number: string
	anchor: string
}

/** The numbered sections of the design document: `## 5b. Web page` is section `5b`. */
function sectionsOf(markdown: string): Section[] {
	return [...markdown.matchAll(/^##\s+(\d+[a-z]?)\.\s+(.+)$/gm)].map((m) => ({ number: m[1]!, anchor: slugOf(`${m[1]}. ${m[2]}`) }))
}

/** Every anchor of a Markdown document (headings of any level). */
const anchorsOf = (markdown: string): Set<string> =>
	new Set([...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slugOf(m[1]!)))

/** The outside contract's name, in any of the forms it was cited by (name, section or possessive). */
const OUTSIDE_CONTRACT = /\bDESIGN(?:\.md\b|\s*§|'s\b)/g

/** `docs/design.md §1`, and the sections chained after it: `§1 and §8`, `§4, §5`. */
const CITATION = /docs\/design\.md\s*((?:§\s?\d+[a-z]?(?:\s*(?:,|and|or|&|\/)\s*)?)+)/g

/** Markdown links: `[text](target#anchor)`. */
const LINK = /\[([^\]]*)\]\(([^)\s]+?)(?:#([^)\s]+))?\)/g

interface Problem {
	where: string
	problem: string
}

/**
 * designReferenceProblems checks one file: no citation of the outside contract, every cited
 * `docs/design.md §N` names a section the design has, every link into the design names one of
 * its anchors, and a link whose text cites a section lands on that section.
 */
function designReferenceProblems(file: string, text: string, design: string): Problem[] {
	const problems: Problem[] = []
	const sections = sectionsOf(design)
	const numbers = new Set(sections.map((s) => s.number))
	const anchors = anchorsOf(design)
	const at = (index: number) => `${file}:${lineOf(text, index)}`

	if (file !== DESIGN)
		for (const m of text.matchAll(OUTSIDE_CONTRACT))
			problems.push({ where: at(m.index), problem: `cites "${m[0]}", which is not in the repository: cite ${DESIGN} §N` })

	for (const m of text.matchAll(CITATION))
		for (const [, n] of m[1]!.matchAll(/§\s?(\d+[a-z]?)/g))
			if (!numbers.has(n!)) problems.push({ where: at(m.index), problem: `cites ${DESIGN} §${n}, which has no such section` })

	if (file === DESIGN)
		// The design's own cross-references (`see §6`).
		for (const m of text.matchAll(/§\s?(\d+[a-z]?)\b/g))
			if (!numbers.has(m[1]!)) problems.push({ where: at(m.index), problem: `refers to §${m[1]}, which has no such section` })

	for (const m of text.matchAll(LINK)) {
		const [, label, target, anchor] = m
		const resolved = normalize(join(dirname(file), target!))
		if (resolved !== DESIGN) continue
		if (anchor !== undefined && !anchors.has(anchor)) {
			problems.push({ where: at(m.index), problem: `links to ${DESIGN}#${anchor}, which has no such heading` })
			continue
		}
		const cited = /§\s?(\d+[a-z]?)/.exec(label!)?.[1]
		const landing = sections.find((s) => s.anchor === anchor)
		if (cited !== undefined && landing?.number !== cited)
			problems.push({ where: at(m.index), problem: `"${label}" should link to #${sections.find((s) => s.number === cited)?.anchor ?? '?'}` })
	}
	return problems
}

describe('design references', () => {
	test('the design document has its sections, numbered as the code cites them', async () => {
		const design = await Bun.file(join(ROOT, DESIGN)).text()
		expect(sectionsOf(design).map((s) => s.number)).toEqual(['1', '2', '3', '4', '5', '5b', '6', '7', '8', '9'])
	})

	test('no file cites the outside contract; every design citation names a section and anchor that exist', async () => {
		const design = await Bun.file(join(ROOT, DESIGN)).text()
		const files = await readTextFiles()
		expect(files.map((f) => f.file)).toContain(DESIGN)
		const problems = files.flatMap(({ file, text }) => designReferenceProblems(file, text, design))
		expect(problems.map((p) => `${p.where}: ${p.problem}`)).toEqual([])
		// The walk saw the references it guards (a broken walk would pass vacuously).
		const citing = files.filter(({ text }) => /docs\/design\.md\s*§/.test(text)).map((f) => f.file)
		expect(citing).toEqual(expect.arrayContaining(['README.md', 'src/domain/rules.ts', 'src/adapters/redis/place-bid.lua']))
	})

	test('the checks catch what they are for', () => {
		const design = '# d\n\n## 1. Shape\n\n## 2. Domain rules\n\n## 5b. Web page (planned)\n\nSee §2.\n'
		const problems = (file: string, text: string) => designReferenceProblems(file, text, design).map((p) => p.problem)
		const old = ['DESIGN', '.md'].join('')
		expect(problems('src/a.ts', `// see ${old}`)).toHaveLength(1)
		expect(problems('src/a.ts', `// ${['DESIGN', '§2'].join(' ')}`)).toHaveLength(1)
		expect(problems('src/a.ts', '// docs/design.md §2 rule 9, docs/design.md §1 and §5b')).toEqual([])
		expect(problems('src/a.ts', '// docs/design.md §1 and §7')).toEqual(['cites docs/design.md §7, which has no such section'])
		expect(problems('README.md', '[docs/design.md §2](docs/design.md#2-domain-rules)')).toEqual([])
		expect(problems('bench/README.md', '[§5b](../docs/design.md#5b-web-page-planned)')).toEqual([])
		expect(problems('README.md', '[docs/design.md §2](docs/design.md#2-domain)')).toEqual([
			'links to docs/design.md#2-domain, which has no such heading',
		])
		expect(problems('docs/decisions.md', '[docs/design.md §1](design.md#2-domain-rules)')).toEqual([
			'"docs/design.md §1" should link to #1-shape',
		])
		expect(problems('docs/design.md', 'See §3.')).toEqual(['refers to §3, which has no such section'])
	})
})
