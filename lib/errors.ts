// One way to say what was wrong with an argument: its name, what was expected, what came.

/** Describes a received value briefly for an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    return 'length' in value ? `${name}(${(value as unknown as { length: number }).length})` : name;
  }
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return 'function';
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** TypeError for a value of the wrong kind. */
export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${name}: expected ${expected}, received ${describe(value)}`);
}

/** RangeError for a value of the right kind but outside what is allowed. */
export function invalidRange(name: string, expected: string, value: unknown): RangeError {
  return new RangeError(`${name}: expected ${expected}, received ${describe(value)}`);
}

export function assertInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(name, 'an integer', value);
  if (value < min || value > max) throw invalidRange(name, `an integer in [${min}, ${max}]`, value);
  return value;
}
