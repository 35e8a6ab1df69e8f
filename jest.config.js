// Native-ESM jest with @swc/jest (shared/STACK-NOTES.md §2). Two projects so that
// `npm run test:unit` stays fast and the real-diffusers tests run on their own.
const swc = ['@swc/jest', {jsc: {parser: {syntax: 'typescript'}, target: 'es2022'}, module: {type: 'es6'}}];
const common = {
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/setup-console.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {'^(\\.{1,2}/.*)\\.js$': '$1'},
  transform: {'^.+\\.ts$': swc},
};
export default {
  projects: [
    {...common, displayName: 'unit', testMatch: ['<rootDir>/test/**/*.test.ts'], testPathIgnorePatterns: ['<rootDir>/test/runtime/', '<rootDir>/test/e2e/', '<rootDir>/test/conformance/']},
    // test/e2e runs the real CLI with the real worker (the README's first command), so it belongs with the slow tests.
    {...common, displayName: 'runtime', testMatch: ['<rootDir>/test/runtime/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts', '<rootDir>/test/conformance/**/*.test.ts']},
  ],
};
