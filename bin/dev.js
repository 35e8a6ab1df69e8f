#!/usr/bin/env -S node --loader ts-node/esm --disable-warning=ExperimentalWarning
// Runs src/ through ts-node without a build (about 2 s a start): for development only.
import {execute} from '@oclif/core';

await execute({development: true, dir: import.meta.url});
