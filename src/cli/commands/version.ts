import packageJson from '../../../package.json' with { type: 'json' }
import { defineCommand } from '../spec.ts'

export const versionCommand = defineCommand({
	name: 'version',
	summary: "print gavel's version (also --version, -v)",
	options: [],
	examples: (gavel) => [`${gavel} version`],
	async run() {
		console.log(packageJson.version)
		return 0
	},
})
