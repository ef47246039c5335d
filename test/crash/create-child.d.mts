// Types of create-child.mjs.
export declare function createValue(i: number): Uint8Array
