/**
 * An image reference is pinned when it names one immutable image: a digest (`…@sha256:<64 hex>`),
 * or a private ECR repository (whose tags the account controls and can make immutable). A public
 * tag such as `nats:2.12` moves under the stack and counts against Docker Hub's pull limits.
 */
const DIGEST = /@sha256:[0-9a-f]{64}$/
const ECR = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\//

export function isPinnedImage(image: string): boolean {
	return DIGEST.test(image) || ECR.test(image)
}

/** The tag an image reference names (`nats:2.12-alpine@sha256:…` → `2.12-alpine`), if any. */
export function tagOf(image: string): string | undefined {
	const ref = image.split('@')[0] ?? ''
	const lastSegment = ref.slice(ref.lastIndexOf('/') + 1)
	return lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined
}

/**
 * checkImage refuses, at preview, an image that no stack should run (`latest` or no tag: whatever
 * was pushed last) and, outside development stacks, any image that is not pinned. `key` is the
 * config key named in the error.
 */
export function checkImage(key: string, image: string, development: boolean): void {
	const tag = tagOf(image)
	if (!image.includes('@') && (tag === undefined || tag === 'latest'))
		throw new Error(`${key} (${image}) floats: name a version, and pin it by digest (…@sha256:…) or mirror it into ECR`)
	if (!development && !isPinnedImage(image))
		throw new Error(
			`${key} (${image}) is a floating public tag: pin it by digest (…@sha256:…) or mirror it into ECR (pulumi/README.md, "Pinned images"); only development stacks may run it`,
		)
}
