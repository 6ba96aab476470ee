/**
 * `node --import ./test/contract/generator/typescript-5.ts …`: openapi-typescript
 * imports `typescript` for its compiler API, which TypeScript 5 has and the
 * project's own TypeScript 7 (native, type-checking only) does not. This
 * package depends on TypeScript 5; its `typescript` is the one handed over.
 */
import { registerHooks } from 'node:module';

const TYPESCRIPT_5 = import.meta.resolve('typescript');

registerHooks({
  resolve: (specifier, context, nextResolve) =>
    specifier === 'typescript' && context.parentURL?.includes('/openapi-typescript/')
      ? { url: TYPESCRIPT_5, format: 'commonjs', shortCircuit: true }
      : nextResolve(specifier, context),
});
