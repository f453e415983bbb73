import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Component sources run inside a WebAssembly component (StarlingMonkey): web
// platform globals, no Node.
const componentGlobals = Object.fromEntries(
  ['console', 'fetch', 'Request', 'Response', 'Headers', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'crypto'].map((g) => [g, 'readonly']),
)

export default tseslint.config(
  { ignores: ['**/node_modules/', '**/gen/', '.lean-cloud/', '.lean-cloud-test/', '**/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workloads/*/src/**/*.js', 'test/fixtures/**/src/**/*.js'],
    languageOptions: { globals: componentGlobals },
  },
)
