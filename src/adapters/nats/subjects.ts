/** NATS names (docs/design.md §3): one subject per auction under one stream. Tests use their own prefix and stream. */
export const DEFAULT_STREAM = 'GAVEL_EVENTS'
export const DEFAULT_SUBJECT_PREFIX = 'gavel.auction'

export const auctionSubject = (prefix: string, auction: string) => `${prefix}.${auction}`
/** An auction's private state records (docs/design.md §6): one token below its events, so no watcher's subscription matches. */
export const stateSubject = (prefix: string, auction: string) => `${prefix}.${auction}.state`
/** What the stream keeps: every auction's events and state records. */
export const allAuctionsSubject = (prefix: string) => `${prefix}.>`
/** Every auction's events, and nothing else (one token: state records have two). */
export const everyAuctionEvents = (prefix: string) => `${prefix}.*`
/** Whether a message of the stream is a state record rather than an event. */
export const isStateSubject = (subject: string) => subject.endsWith('.state')
/**
 * The header that carries a commit's state record in the message of its last event (docs/design.md
 * §6): one message, stored and acknowledged once, holds both. Core subscribers (watchers) read only
 * the payload; nats.js decodes headers only when asked.
 */
export const STATE_HEADER = 'Gavel-State'
