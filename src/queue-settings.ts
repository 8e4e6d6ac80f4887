// A queue's settings (PROTOCOL.md §6a): defaults copied into jobs at submit, and the queue's
// length limit. Stored as JSON in `queues.settings`; only keys that are set are kept.

import type { QueueSettings, QueueSettingsChange } from '../protocol/shapes.js'

export type { QueueSettings, QueueSettingsChange }

export const SETTING_KEYS = ['maxLength', 'maxAttempts', 'backoff', 'leaseMs', 'retentionMs'] as const
export type SettingKey = (typeof SETTING_KEYS)[number]

export function applyChange(current: QueueSettings, change: QueueSettingsChange): QueueSettings {
  const next: Record<string, unknown> = { ...current }
  for (const key of SETTING_KEYS) {
    if (!(key in change)) continue
    const v = change[key]
    if (v === null || v === undefined) delete next[key]
    else next[key] = v
  }
  return next as QueueSettings
}

export function settingsToJson(s: QueueSettings): string | null {
  return Object.keys(s).length === 0 ? null : JSON.stringify(s)
}

/** Settings read back from the store (written by settingsToJson; an unreadable value is ignored). */
export function settingsFromJson(json: string | null): QueueSettings {
  if (json === null) return {}
  try {
    const v = JSON.parse(json) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as QueueSettings) : {}
  } catch {
    return {}
  }
}
