import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.ts'

/** The media type every request body must have; its parameters (charset) and letter case do not matter. */
const JSON_MEDIA_TYPE = /^application\/json\s*(?:;|$)/i

/**
 * readJsonBody is the one way a request body is read: only `application/json`, never more than
 * `limit` bytes, whatever the framing. A declared Content-Length was already checked against the
 * limit when the request arrived; a chunked body is counted while it streams in and refused at the
 * first byte past the limit, so no route and no content type can make gavel buffer more.
 */
export async function readJsonBody(request: Request, contentType: string, limit: number): Promise<unknown> {
	if (!JSON_MEDIA_TYPE.test(contentType)) throw new UnsupportedMediaTypeError(contentType)
	const text = request.headers.has('content-length') ? await request.text() : await readLimited(request, limit)
	return JSON.parse(text)
}

async function readLimited(request: Request, limit: number): Promise<string> {
	if (!request.body) return ''
	const reader = request.body.getReader()
	const chunks: Uint8Array[] = []
	let size = 0
	for (;;) {
		const { done, value } = await reader.read()
		if (done) break
		size += value.byteLength
		if (size > limit) {
			reader.cancel().catch(() => {})
			throw new PayloadTooLargeError(limit)
		}
		chunks.push(value)
	}
	return new TextDecoder().decode(Buffer.concat(chunks, size))
}
