import type { Database, SQLQueryBindings } from 'bun:sqlite'
import { parseStateRecord, type IdempotencyEntry } from '../../domain/state-record.ts'
import type { ArchiveState, RestorableQuery } from '../../ports/archive.ts'
import type { Restorable } from '../../ports/bid-store.ts'

/**
 * The private half of the embedded archive (docs/design.md §6), as Postgres keeps it: each
 * auction's newest state record and the idempotency answers in force. In the embedded stack this
 * file is the log: what a restart rebuilds the memory store from.
 */
export function sqliteStates(db: Database) {
	const upsertState = db.prepare(`
		insert into auction_states (auction_id, rev, closed, at_ms, record) values (?, ?, ?, ?, ?)
		on conflict (auction_id) do update set rev = excluded.rev, closed = excluded.closed, at_ms = excluded.at_ms, record = excluded.record
		where auction_states.rev < excluded.rev`)
	const upsertAnswer = db.prepare(`
		insert into idempotency_answers (auction_id, bidder, key, at_ms, fingerprint, answer) values (?, ?, ?, ?, ?, ?)
		on conflict (auction_id, bidder, key) do update set at_ms = excluded.at_ms, fingerprint = excluded.fingerprint, answer = excluded.answer
		where idempotency_answers.at_ms < excluded.at_ms`)
	const writeAll = db.transaction((states: readonly ArchiveState[]) => {
		for (const { state } of states) {
			upsertState.run(state.auction, state.rev, state.record.closed ? 1 : 0, state.at, JSON.stringify({ ...state, idempotency: null }))
			const a = state.idempotency
			if (a) upsertAnswer.run(state.auction, a.bidder, a.key, a.at, a.fingerprint, a.answer)
		}
	})
	const eventsOf = db.prepare<{ payload: string }, [string, number, number]>(
		'select payload from (select payload, seq from bid_events where auction_id = ? and seq <= ? order by seq desc limit ?) order by seq',
	)
	const answersOf = db.prepare<{ bidder: string; key: string; at_ms: number; fingerprint: string; answer: string }, [string, number]>(
		'select bidder, key, at_ms, fingerprint, answer from idempotency_answers where auction_id = ? and at_ms >= ? order by at_ms',
	)

	return {
		async writeStates(states: readonly ArchiveState[]): Promise<void> {
			if (states.length > 0) writeAll(states)
		},

		async restorables({ after, limit, eventsKept, answersSince, closedSince, ids }: RestorableQuery): Promise<Restorable[]> {
			const only = ids ? ` and auction_id in (${ids.map(() => '?').join(',') || "''"})` : ''
			const rows = db
				.query<{ record: string }, SQLQueryBindings[]>(
					`select record from auction_states where auction_id > ? and (closed = 0 or at_ms >= ?)${only} order by auction_id limit ?`,
				)
				.all(after, closedSince, ...(ids ?? []), limit)
			return rows.map(({ record }) => {
				const state = parseStateRecord(record)
				return {
					state,
					events: eventsOf.all(state.auction, state.record.seq, eventsKept).map((e) => e.payload),
					idempotency: answersOf
						.all(state.auction, answersSince)
						.map((a): IdempotencyEntry => ({ bidder: a.bidder, key: a.key, at: a.at_ms, fingerprint: a.fingerprint, answer: a.answer })),
				}
			})
		},

		async pruneAnswers(before: number): Promise<number> {
			return db.run('delete from idempotency_answers where at_ms < ?', [before]).changes
		},
	}
}
