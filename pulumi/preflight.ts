import { existsSync } from 'node:fs'
import { join } from 'node:path'

const REQUIRED = ['@pulumi/pulumi', '@pulumi/aws', '@pulumi/random', '@pulumi/tls']

/**
 * assertPulumiInstalled fails with the command to run when pulumi/node_modules is missing. The
 * tests call it before importing ./testing, whose @pulumi imports would otherwise fail with a
 * bare "Cannot find package"; the tests must never pass by skipping.
 */
export function assertPulumiInstalled(projectDir: string = __dirname): void {
	const missing = REQUIRED.filter((pkg) => !existsSync(join(projectDir, 'node_modules', pkg, 'package.json')))
	if (missing.length > 0)
		throw new Error(
			`pulumi/node_modules is missing ${missing.join(', ')} (looked in ${join(projectDir, 'node_modules')}). ` +
				'Run `bun install` from the repo root (its postinstall installs pulumi/), then run the tests again.',
		)
}
