/**
 * `bun install` at the root runs this afterwards, so the README's one install command sets up
 * everything `bun run check` needs: pulumi/ is a project of its own (its Pulumi packages stay out
 * of the app's dependency tree and its image), and its tests run in the same suite.
 *
 * It installs exactly what pulumi/bun.lock pins (`--frozen-lockfile`): a lockfile out of date is
 * an error to fix in pulumi/ (`cd pulumi && bun install`), never a silent upgrade.
 * Skipped where pulumi/ is absent (the Docker build context) or with GAVEL_SKIP_PULUMI_INSTALL=1.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const pulumiDir = join(import.meta.dir, '..', 'pulumi')

if (Bun.env.GAVEL_SKIP_PULUMI_INSTALL === '1' || !existsSync(join(pulumiDir, 'package.json'))) process.exit(0)

console.log('gavel: installing pulumi/ (the deployment program; its tests are part of `bun run check`)')
const install = Bun.spawnSync([process.execPath, 'install', '--frozen-lockfile'], {
	cwd: pulumiDir,
	stdio: ['ignore', 'inherit', 'inherit'],
})
if (install.exitCode !== 0) {
	console.error(
		`gavel: installing pulumi/ failed (exit ${install.exitCode}). If pulumi/bun.lock is out of date, run ` +
			'`cd pulumi && bun install` and commit the lockfile; set GAVEL_SKIP_PULUMI_INSTALL=1 to skip it.',
	)
	process.exit(install.exitCode ?? 1)
}
