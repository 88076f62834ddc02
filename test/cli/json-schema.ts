/**
 * A validator for the subset of JSON Schema (draft 2020-12) that docs/outcome.schema.json uses:
 * type, properties, required, additionalProperties, items, enum, anyOf, minimum, and $ref to
 * "#/$defs/…". Any other keyword is an error, so the schema cannot say more than the test checks.
 * (Small enough to read in full, where a general validator would be a large devDependency.)
 */
type Schema = { [key: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const KEYWORDS = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'anyOf', 'minimum', '$ref']);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      throw new Error(`schema: unknown type '${type}'`);
  }
}

/** Every place `value` breaks `schema`, as "path: problem" lines; empty when it conforms. */
export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  const resolve = (ref: string): Schema => {
    const m = /^#\/\$defs\/([\w-]+)$/.exec(ref);
    const defs = root.$defs as Record<string, Schema> | undefined;
    const target = m ? defs?.[m[1] as string] : undefined;
    if (!target) throw new Error(`schema: unresolvable $ref '${ref}'`);
    return target;
  };
  const check = (s: Schema, v: unknown, path: string, out: string[]): void => {
    for (const key of Object.keys(s)) {
      if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key)) throw new Error(`schema: keyword '${key}' at ${path} is not supported by this validator`);
    }
    if (typeof s.$ref === 'string') check(resolve(s.$ref), v, path, out);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeOk(t, v))) {
        out.push(`${path}: expected ${types.join(' or ')}, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`);
        return;
      }
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => e === v)) out.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
    if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum) out.push(`${path}: ${v} < ${s.minimum}`);
    if (Array.isArray(s.anyOf)) {
      const branches = (s.anyOf as Schema[]).map((b) => {
        const e: string[] = [];
        check(b, v, path, e);
        return e;
      });
      if (!branches.some((e) => e.length === 0)) out.push(`${path}: matches no anyOf branch (${branches.map((e) => e[0]).join('; ')})`);
    }
    if (typeOk('object', v)) {
      const obj = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required ?? []) as string[]) if (!(r in obj)) out.push(`${path}: missing required '${r}'`);
      for (const [k, x] of Object.entries(obj)) {
        const p = props[k];
        if (p) check(p, x, `${path}.${k}`, out);
        else if (s.additionalProperties === false) out.push(`${path}: unexpected property '${k}'`);
        else if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null) check(s.additionalProperties as Schema, x, `${path}.${k}`, out);
      }
    }
    if (Array.isArray(v) && s.items !== undefined) v.forEach((x, i) => check(s.items as Schema, x, `${path}[${i}]`, out));
  };
  check(root, value, '$', errors);
  return errors;
}
