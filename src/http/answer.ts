// An HTTP request as a broker target: whatever it changed is answered only after the turn's
// commit, exactly like a WebSocket reply (the broker calls flush() after committing). A submit
// that waits for room in a full queue is answered through pushSubmitted / pushError later.

import type { BrokerError } from '../../protocol/errors.js'
import type { Broker, SubmitTarget } from '../broker.js'
import { snapshotJson } from './json.js'
import type { Reply } from './reply.js'

export class HttpAnswer implements SubmitTarget {
  readonly watching = new Set<number>()
  private pending: (() => void) | null = null

  constructor(
    private readonly broker: Broker,
    private readonly reply: Reply,
  ) {}

  get closed(): boolean {
    return this.reply.done
  }

  get answering(): boolean {
    return this.pending !== null
  }

  /** Answers `status` + `body` after this turn's commit. */
  later(status: string, body: unknown): void {
    this.set(() => this.reply.json(status, body))
  }

  pushSubmitted(_rid: number, ids: number[], duplicates: boolean[], many: boolean): void {
    const fresh = duplicates.some((d) => !d)
    this.set(() => {
      if (many) this.reply.json(fresh ? '201 Created' : '200 OK', { ids: ids.map(String), duplicates })
      else {
        const state = this.broker.snapshot(ids[0])?.state
        this.reply.json(fresh ? '201 Created' : '200 OK', { id: String(ids[0]), duplicate: !fresh, state })
      }
    })
  }

  pushSnapshot(_rid: number, snapshot: Record<string, unknown>): void {
    this.set(() => this.reply.json('200 OK', snapshotJson(snapshot)))
  }

  pushError(_rid: number, err: BrokerError): void {
    this.set(() => this.reply.error(err))
  }

  private set(answer: () => void): void {
    this.pending = answer
    this.broker.markDirty(this)
  }

  flush(): void {
    const answer = this.pending
    this.pending = null
    answer?.()
  }

  subscribe(): void {}
  unsubscribe(): void {}
}
