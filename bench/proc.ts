// Orchestrator side of the role processes: fork bench/role.js and call its methods over IPC.
// A child that dies fails every call in flight at once, so a crashed worker never looks like a slow one.

import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RpcReply, RpcRequest } from './role.js'
import { stopProcess, track } from './services.js'

const ROLE_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'role.js')

export class RoleProc {
  private readonly cp: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private exitError: Error | undefined

  constructor(readonly label: string) {
    // stdout/stderr inherited: children stay quiet unless something is wrong, and then we want it seen.
    this.cp = track(fork(ROLE_JS, [label], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    this.cp.on('message', (m: RpcReply) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (m.ok) p.resolve(m.value)
      else p.reject(new Error(`${label}: ${m.error}`))
    })
    this.cp.on('exit', (code, sig) => {
      this.exitError = new Error(`${label} process exited (code ${code}, signal ${sig})`)
      for (const p of this.pending.values()) p.reject(this.exitError)
      this.pending.clear()
    })
  }

  get pid(): number | undefined {
    return this.cp.pid
  }

  call<T>(method: string, args: unknown = {}): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.cp.send({ id, method, args } satisfies RpcRequest)
    })
  }

  /** SIGTERM then SIGKILL; used for normal teardown and after timeouts alike. */
  stop(graceMs = 2000): Promise<void> {
    return stopProcess(this.cp, graceMs)
  }
}
