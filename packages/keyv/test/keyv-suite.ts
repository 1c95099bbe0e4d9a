// Runs the official Keyv store suite (@keyv/test-suite: the API, value and namespace tests Keyv's
// own adapters pass) against a StowageKeyvStore over `client`. The iterator tests are left out:
// the adapter has no iterator (memcached cannot list keys), and Keyv then offers none.
import keyvTestSuite from '@keyv/test-suite';
import type { CacheClient } from '@stowage/core';
import Keyv from 'keyv';
import * as vitest from 'vitest';
import { StowageKeyvStore } from '../src/index.js';

/** Registers @keyv/test-suite's tests, each Keyv on a fresh store over the client `client()` gives. */
export function runKeyvTestSuite(client: () => CacheClient<unknown>): void {
  keyvTestSuite(vitest, Keyv, () => new StowageKeyvStore(client()));
}
