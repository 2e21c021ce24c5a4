// Types of gen-torch-py.mjs (imported by test/interop/torch-codegen.test.ts).
export function render(): string;
