import type { Sql } from 'postgres'
import { parseStateRecord } from '../../domain/state-record.ts'
import type { IdempotencyEntry, StateRecord } from '../../domain/state-record.ts'
import type { ArchiveState, RestorableQuery } from '../../ports/archive.ts'
import type { Restorable } from '../../ports/bid-store.ts'
import { arrayLiteral } from './array-literal.ts'

/** Each auction's record with the highest rev among `states`. */
export function newestPerAuction(states: readonly ArchiveState[]): StateRecord[] {
	const newest = new Map<string, StateRecord>()
	for (const { state } of states) {
		const kept = newest.get(state.auction)
		if (!kept || kept.rev < state.rev) newest.set(state.auction, state)
	}
	return [...newest.values()]
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::int8`

/**
 * The private half of the archive on Postgres (docs/design.md §6): each auction's newest state
 * record and the idempotency answers in force, written by the archiver, read by a rebuild.
 * Two statements per batch, in one transaction; both keep the newest and skip the rest, so a
 * redelivered batch changes nothing.
 */
export function postgresStates(sql: Sql) {
	return {
		async writeStates(states: readonly ArchiveState[]): Promise<void> {
			if (states.length === 0) return
			const answers = states.flatMap(({ state }) => (state.idempotency ? [{ auction: state.auction, ...state.idempotency }] : []))
			// Only an auction's newest record is kept: the older ones of a batch need not travel
			// (a busy auction has several commits in one; the statement keeps the newest all the same).
			const newest = newestPerAuction(states)
			await sql.begin(async (tx) => {
				await tx.unsafe(
					`insert into auction_states (auction_id, rev, closed, at, record)
					select distinct on (auction_id) auction_id, rev, closed, timestamptz 'epoch' + at_ms * interval '1 millisecond', record::json
					from unnest($1::text[], $2::int8[], $3::bool[], $4::int8[], $5::text[]) as s(auction_id, rev, closed, at_ms, record)
					order by auction_id, rev desc
					on conflict (auction_id) do update set rev = excluded.rev, closed = excluded.closed, at = excluded.at, record = excluded.record
					where auction_states.rev < excluded.rev`,
					[
						arrayLiteral(newest.map((s) => s.auction)),
						arrayLiteral(newest.map((s) => s.rev)),
						arrayLiteral(newest.map((s) => s.record.closed)),
						arrayLiteral(newest.map((s) => s.at)),
						arrayLiteral(newest.map((s) => JSON.stringify({ ...s, idempotency: null }))),
					],
				)
				if (answers.length === 0) return
				await tx.unsafe(
					`insert into idempotency_answers (auction_id, bidder, key, at, fingerprint, answer)
					select distinct on (auction_id, bidder, key) auction_id, bidder, key, timestamptz 'epoch' + at_ms * interval '1 millisecond', fingerprint, answer
					from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[]) as a(auction_id, bidder, key, at_ms, fingerprint, answer)
					order by auction_id, bidder, key, at_ms desc
					on conflict (auction_id, bidder, key) do update set at = excluded.at, fingerprint = excluded.fingerprint, answer = excluded.answer
					where idempotency_answers.at < excluded.at`,
					[
						arrayLiteral(answers.map((a) => a.auction)),
						arrayLiteral(answers.map((a) => a.bidder)),
						arrayLiteral(answers.map((a) => a.key)),
						arrayLiteral(answers.map((a) => a.at)),
						arrayLiteral(answers.map((a) => a.fingerprint)),
						arrayLiteral(answers.map((a) => a.answer)),
					],
				)
			})
		},

		async restorables({ after, limit, eventsKept, answersSince, closedSince, ids }: RestorableQuery): Promise<Restorable[]> {
			const rows = await sql.unsafe<Array<{ auction_id: string; record: string }>>(
				`select auction_id, record::text as record from auction_states
				where auction_id > $1 and (not closed or at >= timestamptz 'epoch' + $2::int8 * interval '1 millisecond')
					and ($4::text[] is null or auction_id = any($4::text[]))
				order by auction_id limit $3`,
				[after, closedSince, limit, ids ? arrayLiteral(ids) : null],
			)
			if (rows.length === 0) return []
			const states = rows.map((r) => parseStateRecord(r.record))
			const [events, answers] = await Promise.all([
				sql.unsafe<Array<{ auction_id: string; payload: string }>>(
					`select s.auction_id, e.payload::text as payload
					from unnest($1::text[], $2::int8[]) as s(auction_id, seq)
					cross join lateral (
						select payload, seq from bid_events where auction_id = s.auction_id and seq <= s.seq order by seq desc limit $3
					) e
					order by s.auction_id, e.seq`,
					[arrayLiteral(states.map((s) => s.auction)), arrayLiteral(states.map((s) => s.record.seq)), eventsKept],
				),
				sql.unsafe<Array<{ auction_id: string; bidder: string; key: string; at: string; fingerprint: string; answer: string }>>(
					`select auction_id, bidder, key, ${ms('at')} as at, fingerprint, answer from idempotency_answers
					where auction_id = any($1::text[]) and at >= timestamptz 'epoch' + $2::int8 * interval '1 millisecond'
					order by auction_id, at`,
					[arrayLiteral(states.map((s) => s.auction)), answersSince],
				),
			])
			return states.map((state) => ({
				state,
				events: events.filter((e) => e.auction_id === state.auction).map((e) => e.payload),
				idempotency: answers
					.filter((a) => a.auction_id === state.auction)
					.map((a): IdempotencyEntry => ({ bidder: a.bidder, key: a.key, at: Number(a.at), fingerprint: a.fingerprint, answer: a.answer })),
			}))
		},

		async pruneAnswers(before: number): Promise<number> {
			const result = await sql.unsafe(`delete from idempotency_answers where at < timestamptz 'epoch' + $1::int8 * interval '1 millisecond'`, [before])
			return result.count
		},
	}
}
