import { ConfigError, loadConfig } from '../../src/config.ts'

/** The configuration's problems with `env`, one per line; '' when it loads. Any other error is thrown. */
export function configProblems(env: Record<string, string>): string {
	try {
		loadConfig(env)
		return ''
	} catch (err) {
		if (!(err instanceof ConfigError)) throw err
		return err.problems.join('\n')
	}
}
