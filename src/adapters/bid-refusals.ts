import type { Refusal } from '../domain/rules.ts'
import { ClosedError, NotStartedError, OwnAuctionError, TooLowError, type AppError } from '../errors.ts'
import type { PlaceBidRequest } from '../ports/bid-store.ts'

/** refusalError turns a rule's refusal (data, as both stores produce it) into the error a route renders. */
export function refusalError(refusal: Refusal): AppError {
	switch (refusal.code) {
		case 'NOT_STARTED':
			return new NotStartedError(refusal.startsAt)
		case 'CLOSED':
			return new ClosedError()
		case 'OWN_AUCTION':
			return new OwnAuctionError()
		case 'TOO_LOW':
			return new TooLowError(refusal.minimum)
	}
}

/** The part of a bid an Idempotency-Key pins: a retry must send the same amounts. */
export const idempotencyFingerprint = (r: Pick<PlaceBidRequest, 'amount' | 'maxAmount'>): string =>
	`${r.amount}:${r.maxAmount ?? ''}`
