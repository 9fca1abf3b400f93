/**
 * Typed reads of a parsed Stripe request (form body or query), failing the way Stripe fails: an
 * unknown top-level parameter, a non-integer amount or a bad boolean is a 400 naming the parameter.
 * An empty string means "not given", as the SDK sends a null.
 */
import { invalidRequest, parameterMissing } from './errors';
import type { FormObject, FormValue } from './form';

export type Metadata = Record<string, string>;

// Stripe's metadata limits; exceeding them in production is a 400, so it is one here too.
const METADATA_MAX_KEYS = 50;
const METADATA_MAX_KEY_LENGTH = 40;
const METADATA_MAX_VALUE_LENGTH = 500;

export class Params {
  constructor(
    readonly form: FormObject,
    private readonly prefix = '',
  ) {}

  private name(key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key;
  }

  /** Stripe refuses parameters an endpoint does not know; `expand` is accepted everywhere. */
  assertKnown(allowed: readonly string[]): void {
    for (const key of Object.keys(this.form)) {
      if (key !== 'expand' && !allowed.includes(key))
        throw invalidRequest(`Received unknown parameter: ${this.name(key)}`, this.name(key), 'parameter_unknown');
    }
  }

  string(key: string): string | undefined {
    const value = this.form[key];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${this.name(key)} must be a string`, this.name(key));
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw parameterMissing(this.name(key));
    return value;
  }

  integer(key: string): number | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!/^-?\d{1,15}$/.test(value)) throw invalidRequest(`Invalid integer: ${value}`, this.name(key));
    return Number(value);
  }

  requiredInteger(key: string): number {
    const value = this.integer(key);
    if (value === undefined) throw parameterMissing(this.name(key));
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw invalidRequest(`Invalid boolean: ${value}`, this.name(key));
    return value === 'true';
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const match = allowed.find((candidate) => candidate === value);
    if (match === undefined)
      throw invalidRequest(`Invalid ${this.name(key)}: must be one of ${allowed.join(', ')}`, this.name(key));
    return match;
  }

  strings(key: string): string[] | undefined {
    const value = this.form[key];
    if (value === undefined || value === '') return undefined;
    const items = Array.isArray(value) ? value : [value];
    if (!items.every((item): item is string => typeof item === 'string'))
      throw invalidRequest(`Invalid array: ${this.name(key)} must be a list of strings`, this.name(key));
    return items;
  }

  /**
   * The payment method types a payment or setup may use: `allowed_payment_method_types` in the
   * SDK's current API version, `payment_method_types` in earlier ones (both accepted).
   */
  paymentMethodTypes(): { allowed: string[] | null; types: string[] } {
    const allowed = this.strings('allowed_payment_method_types') ?? null;
    return { allowed, types: allowed ?? this.strings('payment_method_types') ?? ['card'] };
  }

  /** A nested hash such as `automatic_payment_methods[enabled]`. */
  object(key: string): Params | undefined {
    const value = this.form[key];
    if (value === undefined || value === '') return undefined;
    if (typeof value === 'string') throw invalidRequest(`Invalid object: ${this.name(key)} must be a hash`, this.name(key));
    return new Params(Array.isArray(value) ? indexed(value) : value, this.name(key));
  }

  metadata(): Metadata {
    const nested = this.object('metadata');
    if (!nested) return {};
    const entries = Object.entries(nested.form).filter(([, value]) => value !== '');
    if (entries.length > METADATA_MAX_KEYS)
      throw invalidRequest(`Invalid metadata: metadata cannot have more than ${METADATA_MAX_KEYS} keys`, 'metadata');
    const metadata: Metadata = {};
    for (const [key, value] of entries) {
      if (typeof value !== 'string') throw invalidRequest(`Invalid metadata: metadata[${key}] must be a string`, `metadata[${key}]`);
      if (key.length > METADATA_MAX_KEY_LENGTH)
        throw invalidRequest(`Invalid metadata: keys can be at most ${METADATA_MAX_KEY_LENGTH} characters`, `metadata[${key}]`);
      if (value.length > METADATA_MAX_VALUE_LENGTH)
        throw invalidRequest(`Invalid metadata: values can be at most ${METADATA_MAX_VALUE_LENGTH} characters`, `metadata[${key}]`);
      metadata[key] = value;
    }
    return metadata;
  }

  expand(): string[] {
    return this.strings('expand') ?? [];
  }
}

/** Numeric keys (`metadata[0]=x`) arrive as an array; as a hash they are keyed by index. */
function indexed(items: FormValue[]): FormObject {
  return Object.fromEntries(items.map((item, index) => [String(index), item]));
}
