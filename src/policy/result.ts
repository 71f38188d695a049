/** The outcome of parsing one policy value: the value, or a message for the operator. */
export type Parsed<T> =
  | {readonly ok: true; readonly value: T}
  | {readonly ok: false; readonly message: string};

/** A parsed value. */
export function ok<T>(value: T): Parsed<T> {
  return {ok: true, value};
}

/** A refusal with its reason. */
export function fail<T = never>(message: string): Parsed<T> {
  return {ok: false, message};
}
