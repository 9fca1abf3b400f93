/**
 * Test-side reading of JSON bodies: `readJson` gives `unknown` (expect() judges it), `at` walks
 * a path through objects and arrays, `items` gives an array (empty when the value is not one).
 */
export const readJson = async (response: Response): Promise<unknown> => response.json();

export function at(value: unknown, ...path: Array<string | number>): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Reflect.get(current, key);
  }
  return current;
}

export const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
