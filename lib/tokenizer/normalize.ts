// Normalizers: what a tokenizer does to text before splitting it, applied to
// each stretch of text between added tokens (never to an added token itself),
// as Hugging Face `tokenizers` does. The ones published tokenizers use:
//  - "NFC" (Qwen2/3): composed characters, so "e\u0301" encodes as "é" does;
//  - SentencePiece's (Llama 2, Mistral): "▁" before the stretch and for every
//    space (tokenizer.json's Sequence [Prepend "▁", Replace " " → "▁"]).

/** The normalizers genrm implements, by name. */
export type Normalizer = 'NFC' | 'sentencePiece';

/** SentencePiece's stand-in for a space. */
export const SPACE_MARK = '\u2581';

/** `text` normalized (text is one non-empty stretch between added tokens). */
export function normalize(text: string, normalizer: Normalizer | undefined): string {
  if (normalizer === 'NFC') return text.normalize('NFC');
  if (normalizer === 'sentencePiece') return SPACE_MARK + text.replaceAll(' ', SPACE_MARK);
  return text;
}
