/** NATS names (docs/design.md §3): one subject per auction under one stream. Tests use their own prefix and stream. */
export const DEFAULT_STREAM = 'GAVEL_EVENTS'
export const DEFAULT_SUBJECT_PREFIX = 'gavel.auction'

export const auctionSubject = (prefix: string, auction: string) => `${prefix}.${auction}`
export const allAuctionsSubject = (prefix: string) => `${prefix}.>`
