/** A tokenizer (or tokenizer.json) genrm cannot use, or a bad request to one; names the source and the field. */
export class TokenizerError extends Error {
  /** The file path, or 'tokenizer' / 'trainTokenizer' / ... for in-memory input. */
  readonly source: string;
  /** The tokenizer.json field (or option) at fault, e.g. "model.merges[12]". */
  readonly field: string | undefined;

  constructor(source: string, detail: string, field?: string) {
    super(`${source}: ${field !== undefined ? `${field}: ` : ''}${detail}`);
    this.name = 'TokenizerError';
    this.source = source;
    this.field = field;
  }
}

/** A value for an error message: JSON, cut to 80 characters. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
