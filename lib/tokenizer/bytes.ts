// GPT-2's ByteLevel alphabet: each of the 256 byte values gets one printable
// character, so a BPE token (a byte string) is a plain JSON string in vocab and
// merges. Printable Latin-1 bytes stand for themselves; the other 68 (controls,
// space, soft hyphen, ...) are moved to U+0100 and up, in byte order. Every
// tokenizer that reads a "ByteLevel" tokenizer.json uses this exact table.

/** BYTE_CHARS[b]: the character that stands for byte b. */
export const BYTE_CHARS: readonly string[] = (() => {
  const chars = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 0x100 + shifted++);
  }
  return chars;
})();

// Every ByteLevel character is below U+0144, so a flat table maps them back.
const CHAR_BYTE = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_CHARS.forEach((c, b) => (table[c.charCodeAt(0)] = b));
  return table;
})();

/** The bytes a ByteLevel token string stands for, or undefined if a character is not in the alphabet. */
export function tokenBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    const b = code < CHAR_BYTE.length ? CHAR_BYTE[code]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** The ByteLevel string for a byte sequence. */
export function bytesToken(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_CHARS[b]!;
  return s;
}
