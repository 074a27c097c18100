// How a number was made, as reports record it: the named protocol, the settings
// the run depended on, each one that differs from the protocol's (an explicit
// option), and each one the protocol's source leaves open. Scores made under
// different records are not comparable; the record is what says so.

export type SettingValue = string | number | boolean;

export interface ProtocolRecord {
  /** The protocol's name, e.g. 'rewardbench'. */
  name: string;
  summary: string;
  /** Why this protocol: given by the user, or the default for the data. */
  chosenBy: string;
  /** The settings the run depended on, as used. */
  settings: Record<string, SettingValue>;
  /** Settings whose value differs from the protocol's. */
  differences: Array<{ setting: string; protocol: SettingValue; used: SettingValue }>;
  /** Settings the protocol's source does not state: the value used and why. */
  unstated: Array<{ setting: string; used: SettingValue; note: string }>;
  /** Where each setting comes from. */
  sources?: Record<string, string>;
  /** Other facts a reader needs, e.g. pairs the protocol cannot judge. */
  notes?: string[];
}

const show = (v: SettingValue) => (typeof v === 'string' ? v : String(v));

/** A markdown section: the protocol, its settings, then differences and open settings (or that there are none). */
export function protocolMarkdown(r: ProtocolRecord, heading = '###'): string {
  const lines = [
    `${heading} Protocol: ${r.name}`,
    '',
    `${r.summary} (${r.chosenBy}).`,
    '',
    `Settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k} ${show(v)}`)
      .join(', ')}.`,
    '',
    r.differences.length === 0
      ? `Every setting is the protocol's.`
      : `Differs from ${r.name}: ${r.differences
          .map((d) => `${d.setting} ${show(d.used)} (protocol: ${show(d.protocol)})`)
          .join('; ')}.`,
  ];
  if (r.unstated.length > 0)
    lines.push('', 'Not stated by the source:', ...r.unstated.map((u) => `- ${u.setting} ${show(u.used)}: ${u.note}`));
  if (r.notes?.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}
