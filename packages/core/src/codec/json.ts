// JSON parsing for values read from a shared cache: another process (or an attacker with access
// to the server) may have written them, so parsing must not hand back objects whose `__proto__`
// or `constructor.prototype` keys would pollute `Object.prototype` when merged later, and must
// accept what Python's `json.dumps` writes (`NaN`, `Infinity`).

// A key can only be dangerous if one of these names, or a \u escape that could spell one, occurs.
const SUSPICIOUS = /__proto__|constructor|\\u/;

function dropPrototypeKeys(this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined;
  if (
    key === 'constructor' &&
    typeof value === 'object' &&
    value !== null &&
    'prototype' in value
  ) {
    return undefined;
  }
  return value;
}

/**
 * Replaces Python's `NaN`, `Infinity` and `-Infinity` literals by `null`, outside strings only.
 * Returns `undefined` when there was nothing to replace.
 */
function replacePythonLiterals(text: string): string | undefined {
  let out = '';
  let last = 0;
  let changed = false;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    for (const literal of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(literal, i)) {
        out += text.slice(last, i) + 'null';
        i += literal.length - 1;
        last = i + 1;
        changed = true;
        break;
      }
    }
  }
  return changed ? out + text.slice(last) : undefined;
}

/**
 * True when `text` may hold a key the safe parser drops (`__proto__`, `constructor`, or a `\u`
 * escape that could spell one); JSON without any can be parsed plainly.
 */
export function mayHoldPrototypeKeys(text: string): boolean {
  return SUSPICIOUS.test(text);
}

/**
 * Parses JSON safely: drops `__proto__` keys and `constructor` objects that carry a `prototype`,
 * and reads Python's `NaN`/`Infinity` literals as `null`. Throws `SyntaxError` on malformed input.
 * The reviver (which is slow) only runs when the text contains one of the dangerous names.
 */
export function parseJsonSafely(text: string): unknown {
  const reviver = SUSPICIOUS.test(text) ? dropPrototypeKeys : undefined;
  try {
    return JSON.parse(text, reviver);
  } catch (error) {
    const replaced = replacePythonLiterals(text);
    if (replaced === undefined) throw error;
    return JSON.parse(replaced, reviver);
  }
}

/**
 * Freezes a decoded JSON value and everything in it, so one copy can be handed to every caller
 * (`frozenValues`): a caller that tries to change it gets a `TypeError` in strict code instead of
 * changing what the next caller reads. Only for fresh parser output: plain objects, arrays and
 * primitives, no cycles.
 */
export function deepFreeze<V>(value: V): V {
  if (typeof value !== 'object' || value === null) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) deepFreeze(item);
  } else {
    for (const name in value) deepFreeze((value as Record<string, unknown>)[name]);
  }
  return value;
}
