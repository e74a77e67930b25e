// The one error type of the .pth reader and writer: its message names the file and what is wrong with it.

export class PthError extends Error {
  override name = 'PthError';
}

/** Callers declare `const fail: Fail = failer(label)`: the annotation is what lets TypeScript narrow after a call. */
export type Fail = (msg: string) => never;

/** A thrower bound to one file. */
export function failer(label: string): Fail {
  return (msg) => {
    throw new PthError(`${label}: ${msg}`);
  };
}
