/** A config document as YAML parses it, before validation. */
export type ConfigDoc = Record<string, unknown>;

export function isConfigObject(value: unknown): value is ConfigDoc {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How a user's file lies over the embedded default: objects merge key by key; arrays and
 * scalars from `over` replace what `base` had. The loader and every test that builds a config
 * use this one rule.
 */
export function mergeConfigDocs(base: unknown, over: unknown): unknown {
  if (!isConfigObject(base) || !isConfigObject(over)) return over;
  const out: ConfigDoc = { ...base };
  for (const [key, value] of Object.entries(over))
    out[key] = key in base ? mergeConfigDocs(base[key], value) : value;
  return out;
}
