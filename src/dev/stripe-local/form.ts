/**
 * Stripe's request encoding: application/x-www-form-urlencoded with bracket notation, as the stripe
 * SDK writes it (`metadata[user_id]=x`, `payment_method_types[0]=card`,
 * `capabilities[transfers][requested]=true`). GET parameters use the same notation in the query.
 */

export type FormValue = string | FormValue[] | FormObject;
export type FormObject = { [key: string]: FormValue };

/** `a[b][0]` → ['a', 'b', '0']; a name whose brackets do not balance is taken literally. */
function keyPath(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const path = [name.slice(0, open)];
  const rest = name.slice(open);
  const segment = /\[([^[\]]*)\]/gy;
  let consumed = 0;
  for (let match = segment.exec(rest); match; match = segment.exec(rest)) {
    path.push(match[1] ?? '');
    consumed = segment.lastIndex;
  }
  return consumed === rest.length ? path : [name];
}

const isObject = (value: FormValue | undefined): value is FormObject =>
  typeof value === 'object' && !Array.isArray(value);

// Without a prototype, a name like `__proto__[x]` is just a key, never the prototype's setter.
const emptyObject = (): FormObject => Object.create(null) as FormObject;

function assign(target: FormObject, path: string[], value: string): void {
  let node = target;
  for (let i = 0; i < path.length - 1; i += 1) {
    const segment = path[i] ?? '';
    // `a[]=x` appends: the next free index.
    const key = segment === '' ? String(Object.keys(node).length) : segment;
    const child = node[key];
    if (isObject(child)) node = child;
    else {
      // A scalar and a nested value under one name: the nested one wins (later keys refine).
      const created = emptyObject();
      node[key] = created;
      node = created;
    }
  }
  const last = path[path.length - 1] ?? '';
  node[last === '' ? String(Object.keys(node).length) : last] = value;
}

/** Objects whose keys are exactly 0..n-1 were arrays on the client (`arr[0]`, `arr[1]`). */
function arrays(value: FormValue): FormValue {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(arrays);
  const keys = Object.keys(value);
  const entries = keys.map((key) => [key, arrays(value[key] ?? '')] as const);
  const indexed = keys.length > 0 && keys.every((key) => /^(0|[1-9]\d*)$/.test(key) && Number(key) < keys.length);
  if (indexed) return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, item]) => item);
  return Object.fromEntries(entries);
}

/** Parses a form body or query string; a repeated name keeps its last value. */
export function parseForm(encoded: string | URLSearchParams): FormObject {
  const search = typeof encoded === 'string' ? new URLSearchParams(encoded) : encoded;
  const root = emptyObject();
  for (const [name, value] of search) assign(root, keyPath(name), value);
  const parsed = arrays(root);
  return isObject(parsed) ? parsed : {};
}
