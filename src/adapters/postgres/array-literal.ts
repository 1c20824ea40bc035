/**
 * arrayLiteral writes a Postgres array literal (`{"a","b",NULL}`), cast to its type in the SQL.
 * postgres.js's own sql.array needs the array types it fetches on a connection's first query,
 * so it mis-sends an array in that very first query; a literal has no such dependency.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | boolean | null>): string {
	let out = '{'
	for (let i = 0; i < values.length; i++) {
		const v = values[i]
		if (i > 0) out += ','
		if (v === null || v === undefined) out += 'NULL'
		else if (typeof v === 'string') out += `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
		else out += String(v)
	}
	return `${out}}`
}
