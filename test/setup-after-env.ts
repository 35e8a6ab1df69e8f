import {afterEach} from '@jest/globals';
// oclif sets process.exitCode on a failing command; without this, jest exits 1 with every test green.
afterEach(() => {
  process.exitCode = undefined;
});
