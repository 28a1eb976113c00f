/** References to the value types of config/schema.ts's $defs, shared by the section schemas. */
export const duration = { $ref: '#/$defs/duration' };
export const size = { $ref: '#/$defs/size' };
export const count = (minimum: number) => ({ type: 'integer', minimum });
export const address = { $ref: '#/$defs/address' };
