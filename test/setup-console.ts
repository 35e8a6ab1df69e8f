// Jest's buffered console decorates console.log, which oclif's this.log uses (STACK-NOTES pitfall b).
import {Console} from 'node:console';
globalThis.console = new Console({stdout: process.stdout, stderr: process.stderr});
